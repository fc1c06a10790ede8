"""Evidence lines are stored as codes with parameters and worded in the reader's language."""

import inspect

import pytest
from django.urls import reverse
from django.utils import translation
from PIL import PngImagePlugin

from detector import evidence as evidence_package
from detector.evidence import fusion, provenance, similarity, visible_marks, watermark
from detector.evidence.provenance import read_provenance
from detector.evidence_text import CLASSIFIER_SCORE_CODE, EVIDENCE_SENTENCES, evidence_text, finding_text
from detector.models import Submission

from .test_evidence_in_the_app import A1111, encode, scene, submit

LAYER_MODULES = (evidence_package, provenance, fusion, visible_marks, watermark, similarity)


def _layer_codes() -> dict[str, str]:
    """Every CODE_* constant the evidence layers declare, by its name."""
    codes = {}
    for module in LAYER_MODULES:
        for name, value in inspect.getmembers(module):
            if name.startswith("CODE_") and isinstance(value, str):
                codes[f"{module.__name__}.{name}"] = value
    return codes


def test_every_code_the_layers_can_write_has_a_sentence_and_a_korean_one():
    codes = _layer_codes()
    assert len(codes) > 60
    assert len(set(codes.values())) == len(codes), "two constants share a code"
    missing = sorted(name for name, code in codes.items() if code not in EVIDENCE_SENTENCES)
    assert missing == []
    assert set(visible_marks.MARK_CODES) == set(visible_marks.MARKS)
    untranslated = []
    for code in [*codes.values(), CLASSIFIER_SCORE_CODE]:
        with translation.override("en"):
            english = str(EVIDENCE_SENTENCES[code])
        with translation.override("ko"):
            korean = str(EVIDENCE_SENTENCES[code])
        if korean == english and english != "AI":  # "AI" reads the same in Korean
            untranslated.append(code)
    assert untranslated == []


def _a1111_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    return encode(scene(1), pnginfo=info)


def test_a_finding_keeps_its_english_line_and_the_catalogue_says_the_same_in_english():
    (finding,) = [f for f in read_provenance(_a1111_png()) if f.signal == "png_generator_parameters"]
    assert finding.code == provenance.CODE_PNG_GENERATOR_SETTINGS
    assert finding.params["generator"] == "Automatic1111" and "Steps 20" in finding.params["settings"]
    assert finding.line.startswith("PNG text chunk 'parameters' written by Automatic1111: prompt")
    with translation.override("en"):
        assert finding_text(finding.as_dict()) == finding.line
    with translation.override("ko"):
        korean = finding_text(finding.as_dict())
    assert "Automatic1111이(가) 작성한 PNG 텍스트 청크 'parameters': prompt" in korean


def test_an_unknown_code_or_params_that_do_not_fit_fall_back_to_the_stored_text():
    assert evidence_text("provenance.no_such_code", {}, "stored sentence") == "stored sentence"
    assert evidence_text(provenance.CODE_CAMERA_EXIF, {}, "stored sentence") == "stored sentence"
    assert evidence_text("", {"settings": "x"}, "stored sentence") == "stored sentence"


@pytest.mark.django_db(transaction=True)
def test_the_result_page_in_korean_words_the_evidence_and_notes_in_korean(web, submitter):
    client = web.login_as(submitter)
    client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    marked = submit(client, _a1111_png(), "castle.png")
    plain = submit(client, encode(scene(3)), "plain.png")
    assert marked.status == "scored" and plain.status == "scored"

    page = client.get(reverse("submission-detail", args=[marked.pk])).content.decode()
    assert '<html lang="ko"' in page
    assert "Automatic1111이(가) 작성한 PNG 텍스트 청크" in page
    assert "written by Automatic1111" not in page

    notes = plain.fusion["coded_notes"]
    assert fusion.CODE_NOTE_ONLY_CLASSIFIER in [n["code"] for n in notes]
    page = client.get(reverse("submission-detail", args=[plain.pk])).content.decode()
    assert "분류기만 판단했습니다. 메타데이터가 없다는 것은 어느 쪽의 증거도 아닙니다." in page
    assert "Only the classifier spoke" not in page


@pytest.mark.django_db(transaction=True)
def test_a_row_stored_before_codes_existed_still_shows_its_stored_sentences(web, submitter):
    client = web.login_as(submitter)
    submission = submit(client, _a1111_png(), "castle.png")
    old = dict(submission.fusion)
    old.pop("coded_notes")
    old["notes"] = ["An old note, stored as a sentence."]
    old["findings"] = [
        {k: v for k, v in f.items() if k not in ("code", "params")} | {"line": "An old line, stored as a sentence."}
        for f in old["findings"]
    ]
    old["contributions"] = [{k: v for k, v in c.items() if k not in ("code", "params")} for c in old["contributions"]]
    Submission.objects.filter(pk=submission.pk).update(fusion=old)

    client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "An old line, stored as a sentence." in page
    assert "An old note, stored as a sentence." in page
    assert "이(가) 작성한 PNG 텍스트 청크" not in page


@pytest.mark.django_db(transaction=True)
def test_the_api_gives_each_evidence_item_its_code_and_params(web, submitter, api_for):
    submission = submit(web.login_as(submitter), _a1111_png(), "castle.png")
    score = api_for(submitter).get(f"/api/v1/submissions/{submission.pk}/").json()["score"]
    classifier, *findings = score["evidence"]
    assert classifier["code"] == CLASSIFIER_SCORE_CODE and classifier["params"]["pct"] == round(score["classifier_p_ai"] * 100)
    marker = next(e for e in findings if e["signal"] == "png_generator_parameters")
    assert marker["code"] == provenance.CODE_PNG_GENERATOR_SETTINGS
    assert marker["params"]["generator"] == "Automatic1111"
    assert marker["line"].startswith("PNG text chunk 'parameters' written by Automatic1111")  # English, as before
    assert all(isinstance(e["params"], dict) and e["code"] for e in score["evidence"])

    schema = api_for(submitter).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    item = schema["components"]["schemas"]["EvidenceItem"]
    assert {"code", "params", "line", "details"} <= set(item["properties"])
