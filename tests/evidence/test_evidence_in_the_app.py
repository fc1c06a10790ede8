"""Every evidence layer, as a submitter, a reviewer and an admin meet it in the app."""

import io
import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, PngImagePlugin

from detector.models import Collection, KnownImage, Submission
from reviews.models import ReviewCase

pytestmark = pytest.mark.django_db(transaction=True)

A1111 = (
    "a castle on a hill at sunset, highly detailed\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sd_xl_base_1.0"
)


def scene(seed: int, size=(480, 360)) -> Image.Image:
    """A photo-like picture: a sky gradient, hills, shapes and grain (perceptual hashes need structure)."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top, bottom = [rng.randrange(256) for _ in range(3)], [rng.randrange(256) for _ in range(3)]
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(20, 120)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randrange(256) for _ in range(3)))
    image = image.filter(ImageFilter.GaussianBlur(2))
    noise = Image.effect_noise(size, 12).convert("RGB")
    return Image.blend(image, noise, 0.08)


def encode(image: Image.Image, fmt="PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def submit(client, data: bytes, name: str, **extra) -> Submission:
    response = client.post(reverse("submit"), {"image": SimpleUploadedFile(name, data), **extra})
    assert response.status_code == 302, response.content.decode()[:500]
    return Submission.objects.order_by("-id").first()


def decide(web, reviewer, decision: str, note="checked the source"):
    client = web.login_as(reviewer)
    location = client.post(reverse("review-claim-next"))["Location"]
    case_id = int(location.rstrip("/").split("/")[-1])
    response = client.post(reverse("review-case", args=[case_id]), {"decision": decision, "note": note})
    assert response.status_code == 302, response.content.decode()[:800]
    return ReviewCase.objects.get(pk=case_id)


def test_generator_parameters_in_a_png_are_shown_as_unsigned_evidence(web, submitter, api_for):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    submission = submit(web.login_as(submitter), encode(scene(1), pnginfo=info), "castle.png")
    assert submission.status == "scored"
    page = web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Provenance metadata" in page and "Automatic1111" in page
    assert "unsigned: could be forged or removed" in page
    evidence = api_for(submitter).get(f"/api/v1/submissions/{submission.pk}/").json()["score"]["evidence"]
    assert [e["layer"] for e in evidence][0] == "classifier"
    marker = next(e for e in evidence if e["signal"] == "png_generator_parameters")
    assert marker["direction"] == "ai" and marker["verified"] is False
    # The unsigned marker moved P(AI) up from the classifier's own score.
    assert submission.p_ai > submission.fusion["classifier_p_ai"]


def test_an_image_without_metadata_gets_no_metadata_evidence(web, submitter):
    submission = submit(web.login_as(submitter), encode(scene(2), "JPEG", quality=90), "plain.jpg")
    assert [f for f in submission.fusion["findings"] if f["layer"] == "provenance"] == []
    assert submission.p_ai == pytest.approx(submission.fusion["classifier_p_ai"], abs=1e-6)


def test_a_picture_a_reviewer_labelled_ai_is_recognised_after_reencoding_resizing_cropping_and_a_filter(
    settings, web, submitter, reviewer, api_for
):
    original = scene(3)
    first = submit(web.login_as(submitter), encode(original), "original.png")
    assert first.routed_to_review or first.verdict != "likely_human"
    case = decide(web, reviewer, "ai")
    w, h = original.size
    variants = {
        "jpeg60.jpg": encode(original, "JPEG", quality=60),
        "half.png": encode(original.resize((w // 2, h // 2))),
        "crop.png": encode(original.crop((w // 20, h // 20, w - w // 20, h - h // 20))),
        "filter.png": encode(ImageEnhance.Color(ImageEnhance.Brightness(original).enhance(1.1)).enhance(1.4)),
    }
    client = web.login_as(submitter)
    for name, data in variants.items():
        again = submit(client, data, name)
        match = next((f for f in again.fusion["findings"] if f["signal"] == "reviewer_label_match"), None)
        assert match is not None, f"{name} was not matched: {again.fusion['findings']}"
        assert match["details"]["case_id"] == case.pk and match["verified"] is True
        assert f"Matches case #{case.pk}, labelled AI by a reviewer on {case.labelled_at:%Y-%m-%d}" in match["line"]
        assert again.verdict == "likely_ai"
    page = client.get(reverse("submission-detail", args=[again.pk])).content.decode()
    assert f"Matches case #{case.pk}, labelled AI by a reviewer" in page
    unrelated = submit(client, encode(scene(99)), "other.png")
    assert not [f for f in unrelated.fusion["findings"] if f["layer"] == "known_image" and f["signal"] != "embedding_match"]


def test_a_picture_a_reviewer_cleared_as_human_is_not_accused_again(settings, web, submitter, reviewer):
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0  # whatever the model says, a reviewer sees it
    original = scene(4)
    submit(web.login_as(submitter), encode(original), "painting.png")
    decide(web, reviewer, "human", note="the artist showed the layered source file")
    again = submit(web.login_as(submitter), encode(original, "JPEG", quality=70), "painting-again.jpg")
    assert again.verdict == "likely_human" and again.p_ai < again.fusion["classifier_p_ai"]
    assert any(f["signal"] == "reviewer_label_match" and f["direction"] == "human" for f in again.fusion["findings"])


def test_import_known_images_matches_later_copies(tmp_path, web, submitter):
    folder = tmp_path / "known-ai"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(scene(5)))
    (folder / "b.jpg").write_bytes(encode(scene(6), "JPEG", quality=92))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (folder / "notes.txt").write_text("not an image")
    out, err = io.StringIO(), io.StringIO()
    call_command("import_known_images", str(folder), "--label", "ai", "--set-name", "leaked set", stdout=out, stderr=err)
    assert "Imported 2 image(s)" in out.getvalue() and "1 skipped" in out.getvalue()
    assert "broken.png" in err.getvalue()
    call_command("import_known_images", str(folder), "--label", "ai", "--set-name", "leaked set", stdout=out, stderr=err)
    assert KnownImage.objects.count() == 2  # importing again adds nothing
    copy = submit(web.login_as(submitter), encode(scene(5).resize((240, 180)), "JPEG", quality=75), "copy.jpg")
    match = next(f for f in copy.fusion["findings"] if f["signal"] == "known_set_match")
    assert 'imported known-AI set "leaked set"' in match["line"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["/no/such/folder", "--label", "ai"], "is not a folder"),
        (["{empty}", "--label", "ai"], "holds no image files"),
    ],
)
def test_import_known_images_refuses_bad_input_clearly(tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.replace("{empty}", str(empty)) for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("import_known_images", *args)


def test_import_known_images_rejects_an_unknown_label(tmp_path):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("import_known_images", str(tmp_path), "--label", "robot")


def test_the_sd_watermark_is_reported(web, submitter):
    from detector.evidence.watermark import embed_sd_watermark

    marked = embed_sd_watermark(scene(7, size=(512, 512)))
    submission = submit(web.login_as(submitter), encode(marked), "sdxl.png")
    finding = next(f for f in submission.fusion["findings"] if f["layer"] == "watermark")
    assert finding["direction"] == "ai" and "Stable Diffusion" in finding["line"]
    assert "Invisible watermark" in web.get(reverse("submission-detail", args=[submission.pk])).content.decode()


def test_a_visible_gemini_sparkle_is_reported_as_a_mark_that_could_have_been_added(web, submitter):
    from detector.evidence.visible_marks import draw_sparkle

    marked = draw_sparkle(scene(9, size=(800, 600)))
    submission = submit(web.login_as(submitter), encode(marked), "gemini.png")
    finding = next(f for f in submission.fusion["findings"] if f["layer"] == "visible_mark")
    assert finding["signal"] == "gemini_sparkle" and finding["direction"] == "ai" and not finding["verified"]
    assert "can be added" in finding["line"]
    page = web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Visible AI mark" in page and "Gemini" in page


@pytest.fixture
def contest(settings, site_admin):
    """An art-contest collection in which every test image scores likely_ai."""
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    settings.AIORNOT_ART_CONTEST_MIN_LIKELY_AI = None  # let the test thresholds through
    return Collection.objects.create(name="Spring round", policy="art_contest", created_by=site_admin)


def test_art_contest_entrants_are_not_told_ai_before_a_reviewer_agrees(
    contest, web, submitter, reviewer, reviewer2, site_admin, api_for
):
    client = web.login_as(submitter)
    entry = submit(client, encode(scene(8)), "entry.png", collection=contest.pk)
    assert entry.collection == contest and entry.verdict == "likely_ai" and entry.routed_to_review
    page = client.get(reverse("submission-detail", args=[entry.pk])).content.decode()
    assert "Under review" in page and "Likely AI" not in page
    assert "Likely AI" not in client.get(reverse("submission-list")).content.decode()
    body = api_for(submitter).get(f"/api/v1/submissions/{entry.pk}/").json()
    assert body["score"] is None and body["result_withheld"] is True
    assert client.get(reverse("submission-heatmap", args=[entry.pk])).status_code == 404
    # The first reviewer's "AI" is not final in an art contest: a second, independent reviewer must agree.
    case = decide(web, reviewer, "ai")
    assert case.label == "" and case.status == "awaiting_second"
    assert api_for(submitter).get(f"/api/v1/submissions/{entry.pk}/").json()["result_withheld"] is True
    case = decide(web, reviewer2, "ai")
    assert case.label == "ai"
    after = api_for(submitter).get(f"/api/v1/submissions/{entry.pk}/").json()
    assert after["result_withheld"] is False and after["score"]["verdict"] == "likely_ai"
    assert after["review"]["label"] == "ai"


def test_an_entrant_is_never_shown_likely_ai_after_reviewers_decide_human_made_or_unsure(
    contest, web, submitter, reviewer, site_admin, api_for
):
    client = web.login_as(submitter)
    cleared = submit(client, encode(scene(11)), "my-painting.png", collection=contest.pk)
    doubted = submit(client, encode(scene(12)), "my-drawing.png", collection=contest.pk)
    assert cleared.verdict == doubted.verdict == "likely_ai"
    decisions = {decide(web, reviewer, "human").first_submission_id: "human"}
    case = decide(web, reviewer, "unsure")  # the reviewer already holds the next case
    decisions[case.first_submission_id] = "unsure"
    assert sorted(decisions.values()) == ["human", "unsure"]

    client = web.login_as(submitter)
    for entry in (cleared, doubted):
        page = client.get(reverse("submission-detail", args=[entry.pk])).content.decode()
        assert "Not shown. In this contest an entrant sees the machine" in page
        assert "Likely AI" not in page and "A reviewer decided" in page
        body = api_for(submitter).get(f"/api/v1/submissions/{entry.pk}/").json()
        assert body["result_withheld"] is True and body["score"] is None
        assert body["review"]["label"] == decisions[entry.pk]
        assert client.get(reverse("submission-heatmap", args=[entry.pk])).status_code == 404
    report = client.get(reverse("collection-report", args=[contest.pk])).content.decode()
    assert "<dt>Likely AI-generated</dt><dd>0</dd>" in report and "<dt>Not shown</dt><dd>2</dd>" in report
    assert ">Likely AI-generated</td>" not in report and report.count(">Not shown</td>") == 4  # verdict + evidence
    # Reviewers and admins still see what the machine said.
    page = web.login_as(site_admin).get(reverse("submission-detail", args=[cleared.pk])).content.decode()
    assert "Likely AI" in page


def test_the_art_contest_policy_needs_a_higher_score_for_likely_ai(settings, web, submitter, site_admin):
    contest = Collection.objects.create(name="Round 2", policy="art_contest", created_by=site_admin)
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    settings.AIORNOT_ART_CONTEST_MIN_LIKELY_AI = 0.999999
    entry = submit(web.login_as(submitter), encode(scene(9)), "e.png", collection=contest.pk)
    plain = submit(web.login_as(submitter), encode(scene(9), "JPEG", quality=95), "e.jpg")
    assert entry.fusion["thresholds"]["likely_ai"] == pytest.approx(0.999999)
    assert plain.fusion["thresholds"]["likely_ai"] == pytest.approx(1e-12)
    assert plain.verdict == "likely_ai" and entry.verdict != "likely_ai"


def test_submitting_to_a_closed_or_unknown_collection_is_refused(submitter, site_admin, api_for, png):
    closed = Collection.objects.create(name="Last year", policy="newsroom", is_open=False, created_by=site_admin)
    client = api_for(submitter)
    response = client.post("/api/v1/submissions/", {"image": SimpleUploadedFile("a.png", png(seed=1)), "collection": closed.pk})
    assert response.status_code == 409 and response.json()["error"]["code"] == "collection_closed"
    response = client.post("/api/v1/submissions/", {"image": SimpleUploadedFile("a.png", png(seed=1)), "collection": 999999})
    assert response.status_code == 404 and response.json()["error"]["code"] == "collection_not_found"
    assert Submission.objects.count() == 0


def test_a_c2pa_manifest_signed_under_a_configured_anchor_is_trusted_evidence(settings, tmp_path, web, submitter, api_for):
    from .c2pa_signing import sign_image, signing_chain

    anchors = tmp_path / "anchors.pem"
    anchors.write_text(signing_chain().ca_pem)
    settings.AIORNOT_C2PA_TRUST_ANCHORS = str(anchors)
    signed = sign_image(encode(scene(10), "JPEG", quality=90), "image/jpeg", digital_source_type="trainedAlgorithmicMedia")
    submission = submit(web.login_as(submitter), signed, "signed.jpg")
    c2pa = next(f for f in submission.fusion["findings"] if f["signal"] == "c2pa")
    assert c2pa["verified"] and c2pa["details"]["validation_state"] == "Trusted" and c2pa["strength"] == "strong"
    assert submission.verdict == "likely_ai"  # a trusted signer's own declaration decides
    page = web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Trusted: signature valid, certificate trusted" in page and "verified" in page


def test_a_tampered_c2pa_file_is_scored_and_its_manifest_reported_as_failed(web, submitter):
    from .c2pa_signing import sign_image

    signed = sign_image(encode(scene(11), "JPEG", quality=90), "image/jpeg", digital_source_type="trainedAlgorithmicMedia")
    assert b"\xff\xeb" in signed  # the manifest travels in APP11 (JUMBF) segments
    tampered = bytearray(signed)
    tampered[-200] ^= 0xFF  # flip a byte of entropy-coded image data: the hashes no longer match
    submission = submit(web.login_as(submitter), bytes(tampered), "tampered.jpg")
    assert submission.status == "scored"
    c2pa = next(f for f in submission.fusion["findings"] if f["signal"] == "c2pa")
    assert c2pa["direction"] == "unreadable" and not c2pa["verified"]
    assert "validation failed" in c2pa["line"]
    assert submission.p_ai == pytest.approx(submission.fusion["classifier_p_ai"], abs=1e-6)


def test_hostile_metadata_never_breaks_scoring(web, submitter):
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta>&a;&a;')
    info.add_text("parameters", "Steps: " + "9" * 200_000)
    submission = submit(web.login_as(submitter), encode(scene(12), pnginfo=info), "hostile.png")
    assert submission.status == "scored"
    assert any(f["direction"] == "unreadable" for f in submission.fusion["findings"])
    assert web.get(reverse("submission-detail", args=[submission.pk])).status_code == 200
