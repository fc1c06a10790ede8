"""Each score comes with its evidence: a heatmap, and a check that a re-saved copy agrees."""

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from detector.models import Submission
from detector.evidence.fusion import FUSION_VERSION, ClassifierReading, fuse
from detector.policy import Thresholds

pytestmark = pytest.mark.django_db(transaction=True)


def test_result_has_a_heatmap_only_its_owner_and_reviewers_can_see(settings, web, submitter, other_submitter, reviewer, png):
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    client = web.login_as(submitter)
    client.post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=31, size=(300, 200)))})
    submission = Submission.objects.get()
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Where the model looked" in page
    response = client.get(reverse("submission-heatmap", args=[submission.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    overlay = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert overlay.size == (300, 200) and overlay.mode == "RGB"
    api = client.get(f"/api/v1/submissions/{submission.pk}/").json()
    assert api["score"]["heatmap_url"].endswith(f"/submissions/{submission.pk}/heatmap")

    assert web.login_as(other_submitter).get(reverse("submission-heatmap", args=[submission.pk])).status_code == 404
    reviewer_client = web.login_as(reviewer)
    case_id = reviewer_client.post(reverse("review-claim-next"))["Location"].rstrip("/").split("/")[-1]
    assert reviewer_client.get(reverse("review-case-heatmap", args=[case_id])).status_code == 200


def test_heatmaps_can_be_turned_off(settings, web, submitter, png):
    settings.AIORNOT_HEATMAPS = False
    client = web.login_as(submitter)
    client.post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=32))})
    submission = Submission.objects.get()
    assert client.get(reverse("submission-heatmap", args=[submission.pk])).status_code == 404
    assert "Where the model looked" not in client.get(reverse("submission-detail", args=[submission.pk])).content.decode()


def test_score_of_a_reencoded_copy_is_stored_with_the_evidence(web, submitter, png):
    web.login_as(submitter).post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=33))})
    submission = Submission.objects.get()
    raw = submission.classifier_evidence.raw
    assert 0.0 <= raw["perturbed"]["p_ai"] <= 1.0 and raw["perturbed"]["jpeg_quality"] == 90
    assert submission.policy_version == FUSION_VERSION


def test_a_verdict_that_a_resave_flips_reads_uncertain(settings, web, submitter, png):
    web.login_as(submitter).post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=34))})
    evidence = Submission.objects.get().classifier_evidence
    p, q = evidence.p_ai, evidence.raw["perturbed"]["p_ai"]
    if abs(p - q) < 1e-9:
        pytest.skip("the two scores are identical for this image")
    # Put the likely_ai threshold between the two real scores: the verdict flips.
    cut = (p + q) / 2
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = cut / 2, cut
    web.login_as(submitter).post(reverse("submit"), {"image": SimpleUploadedFile("b.png", png(seed=34))})
    again = Submission.objects.order_by("-id").first()
    assert again.reused_earlier_result
    assert again.verdict == "uncertain" and again.unstable_under_reencoding
    page = web.get(reverse("submission-detail", args=[again.pk])).content.decode()
    assert "would get a different verdict, so the result is read as uncertain" in page


def test_a_thumbnail_too_small_to_judge_reads_uncertain_whatever_its_score(settings, web, submitter, png):
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12  # any score is "AI"
    client = web.login_as(submitter)
    client.post(reverse("submit"), {"image": SimpleUploadedFile("thumb.png", png(seed=35, size=(48, 200)))})
    client.post(reverse("submit"), {"image": SimpleUploadedFile("big.png", png(seed=36, size=(64, 200)))})
    thumb, big = Submission.objects.order_by("id")
    assert thumb.verdict == "uncertain" and thumb.too_small_to_judge
    assert big.verdict == "likely_ai" and not big.too_small_to_judge
    page = client.get(reverse("submission-detail", args=[thumb.pk])).content.decode()
    assert "only 48×200 pixels" in page
    assert client.get(f"/api/v1/submissions/{thumb.pk}/").json()["score"]["too_small_to_judge"] is True


@pytest.mark.parametrize(
    "p, perturbed, verdict, unstable",
    [
        (0.95, 0.93, "likely_ai", False),
        (0.95, 0.60, "uncertain", True),
        (0.05, 0.50, "uncertain", True),
        (0.50, 0.95, "uncertain", True),
        (0.10, None, "likely_human", False),
    ],
)
def test_stability_policy(p, perturbed, verdict, unstable):
    result = fuse(classifier=ClassifierReading(p, perturbed, 500, 400), findings=[], thresholds=Thresholds(0.8, 0.2))
    assert (result.verdict, result.unstable) == (verdict, unstable) and result.p_ai == pytest.approx(p)


def test_the_verdict_is_stored_before_the_heatmap_is_drawn(monkeypatch, web, submitter, png):
    """The result page can show the verdict while the (slower) heatmap is still being drawn."""
    import detector.ml.explain as explain

    seen = {}
    real_heatmap = explain.heatmap

    def observed_heatmap(detector, image, **kwargs):
        submission = Submission.objects.get()
        seen["status"] = submission.status
        client = web.login_as(submitter)
        seen["status_json"] = client.get(reverse("submission-status", args=[submission.pk])).json()
        seen["page"] = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
        return real_heatmap(detector, image, **kwargs)

    monkeypatch.setattr(explain, "heatmap", observed_heatmap)
    client = web.login_as(submitter)
    client.post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=35, size=(300, 200)))})

    assert seen["status"] == Submission.Status.SCORED
    assert seen["status_json"] == {"status": "scored", "heatmap": "pending"}
    assert 'data-testid="heatmap-pending"' in seen["page"] and "AI-generated" in seen["page"]
    submission = Submission.objects.get()
    assert client.get(reverse("submission-status", args=[submission.pk])).json() == {"status": "scored", "heatmap": "ready"}
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert 'data-testid="heatmap-pending"' not in page and "Where the model looked" in page


def test_a_heatmap_that_never_came_is_not_awaited_forever(settings, web, submitter, png):
    from datetime import timedelta

    from django.utils import timezone

    client = web.login_as(submitter)
    client.post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=36))})
    submission = Submission.objects.get()
    evidence = submission.classifier_evidence
    evidence.raw.pop("heatmap")
    evidence.save()
    assert client.get(reverse("submission-status", args=[submission.pk])).json()["heatmap"] == "pending"
    Submission.objects.filter(pk=submission.pk).update(scored_at=timezone.now() - timedelta(hours=1))
    assert client.get(reverse("submission-status", args=[submission.pk])).json()["heatmap"] == "none"
    settings.AIORNOT_HEATMAPS = False
    assert client.get(reverse("submission-status", args=[submission.pk])).json()["heatmap"] == "none"


@pytest.mark.parametrize("perturbed, state", [(0.93, "stable"), (0.60, "unstable")])
def test_stability_is_worded_for_an_editor_in_english_and_korean(perturbed, state):
    from django.utils import translation

    from detector.collection_reports import evidence_line
    from detector.evidence_text import fusion_notes
    from detector.presentation import evidence_rows, stability_wording

    result = fuse(classifier=ClassifierReading(0.95, perturbed, 500, 400), findings=[], thresholds=Thresholds(0.8, 0.2))
    stored = result.as_dict()
    with translation.override("en"):
        classifier = evidence_rows(stored)[0]
        assert classifier["line"] == "The classifier scored the pixels 95% AI-generated."
        wording = classifier["stability"]
        assert (wording["state"], wording["label"]) == (state, state)
        assert wording["text"].startswith("a slightly altered copy of the image (saved again, a little smaller) got")
        notes = fusion_notes(stored)
        for text in (classifier["line"], wording["text"], *notes, evidence_line(classifier)):
            for engineer_words in ("re-saved", "JPEG", "% size", "copy scored", "60%"):
                assert engineer_words not in text, text
        assert f"Stability: {state} — " in evidence_line(classifier)  # the collection report says it too
        if state == "unstable":
            assert any(note.startswith("Unstable: a slightly altered copy") for note in notes)
    with translation.override("ko"):
        korean = stability_wording(stored)
        assert korean["label"] in ("안정", "불안정") and re.search(r"[\uac00-\ud7a3]", korean["text"])
        assert all(re.search(r"[\uac00-\ud7a3]", note) for note in fusion_notes(stored))


def test_stability_is_not_claimed_when_it_was_not_measured():
    from detector.presentation import evidence_rows, stability_wording

    unmeasured = fuse(classifier=ClassifierReading(0.95, None, 500, 400), findings=[], thresholds=Thresholds(0.8, 0.2))
    assert stability_wording(unmeasured.as_dict()) is None and evidence_rows(unmeasured.as_dict())[0]["stability"] is None
    too_small = fuse(classifier=ClassifierReading(0.95, 0.1, 40, 40), findings=[], thresholds=Thresholds(0.8, 0.2))
    assert stability_wording(too_small.as_dict()) is None


def test_the_heatmap_says_what_it_does_not_explain_for_the_shipped_npr_model(settings, web, submitter, reviewer, png):
    """The shipped model's score is partly a pixel-trace check, and its probe also looks at the whole
    picture at once: the heatmap draws neither, and a reviewer reading the map must not take it for
    the whole reason."""
    from pathlib import Path

    settings.AIORNOT_DETECTOR_CHECKPOINT = Path(__file__).resolve().parents[2] / "detector" / "weights" / "default.pt"
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    client = web.login_as(submitter)
    client.post(reverse("submit"), {"image": SimpleUploadedFile("b.png", png(seed=33, size=(300, 200)))})
    shipped = Submission.objects.get()
    assert shipped.model_version.startswith("efficientnet_lite0_multilevel_npr-")
    note = ("The map explains only the close-up crops, one part of the score; the pixel-trace check and the look "
            "at the whole picture at once, the other parts, have no map.")
    assert note in client.get(reverse("submission-detail", args=[shipped.pk])).content.decode()
    assert note in client.get(reverse("submission-report", args=[shipped.pk])).content.decode()
    reviewer_client = web.login_as(reviewer)
    case_id = reviewer_client.post(reverse("review-claim-next"))["Location"].rstrip("/").split("/")[-1]
    assert note in reviewer_client.get(reverse("review-case", args=[case_id])).content.decode()


def test_a_model_without_a_pixel_trace_part_gets_no_such_note(settings, web, submitter, png):
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    client = web.login_as(submitter)
    client.post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=32, size=(300, 200)))})
    page = client.get(reverse("submission-detail", args=[Submission.objects.get().pk])).content.decode()
    assert "Where the model looked" in page and "heatmap-partial" not in page  # the test model is a plain lite0


@pytest.mark.parametrize("unmapped, says, not_says", [
    ({"pixel_trace"}, "the image-content check only; the pixel-trace check, the other part of the score, has no map",
     "whole picture"),
    ({"whole_view"}, "only the close-up crops, one part of the score; the look at the whole picture at once has no map",
     "pixel-trace"),
    (set(), None, "The map explains"),
])
def test_the_heatmap_legend_names_exactly_the_parts_it_does_not_draw(unmapped, says, not_says):
    """A model with NPR but no whole view (the defaults before 2026-12-03), a whole-view probe
    without NPR, and a plain model each get their own sentence, or none."""
    from django.template.loader import render_to_string

    html = render_to_string("detector/_heatmap_legend.html", {"heatmap_unmapped": frozenset(unmapped)})
    assert says is None or says in html
    assert not_says not in html


def test_the_partial_heatmap_architectures_match_the_npr_detector():
    from detector.ml.npr import NPR_ARCH
    from detector.selectors import HEATMAP_PARTIAL_ARCHS

    assert NPR_ARCH in HEATMAP_PARTIAL_ARCHS
