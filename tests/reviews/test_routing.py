"""Thresholds decide what people look at; the machine never labels anything itself."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detector.models import Submission
from reviews.models import ReviewCase

pytestmark = pytest.mark.django_db(transaction=True)


def submit(client, data):
    client.post(reverse("submit"), {"image": SimpleUploadedFile("x.png", data)})
    return Submission.objects.order_by("-id").first()


def everything_reads(settings, verdict):
    # Real scores from the real model; only the thresholds move.
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = {
        "likely_ai": (0.0, 1e-12),
        "uncertain": (0.0, 1.0),
        "likely_human": (1.0 - 1e-12, 1.0),
    }[verdict]


@pytest.mark.parametrize("verdict", ["likely_ai", "uncertain"])
def test_anything_not_clearly_human_goes_to_review(verdict, settings, web, submitter, png):
    everything_reads(settings, verdict)
    submission = submit(web.login_as(submitter), png(seed=1))
    assert submission.verdict == verdict
    case = ReviewCase.objects.get()
    assert submission.routed_to_review and case.reason == verdict
    assert case.status == "open" and case.label == ""
    assert "Waiting for a human reviewer" in web.get(reverse("submission-detail", args=[submission.pk])).content.decode()


def test_likely_human_is_not_queued_when_sampling_is_off(settings, web, submitter, png):
    everything_reads(settings, "likely_human")
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 0.0
    submission = submit(web.login_as(submitter), png(seed=2))
    assert submission.verdict == "likely_human" and not submission.routed_to_review
    assert ReviewCase.objects.count() == 0
    page = web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "No person has made a decision" in page


def test_a_configured_share_of_likely_human_images_is_sampled_for_review(settings, web, submitter, png):
    everything_reads(settings, "likely_human")
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 0.5
    client = web.login_as(submitter)
    submissions = [submit(client, png(seed=100 + i)) for i in range(16)]
    sampled = [s for s in submissions if s.routed_to_review]
    assert 2 <= len(sampled) <= 14
    assert {c.reason for c in ReviewCase.objects.all()} == {"sampled_likely_human"}
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0
    assert submit(client, png(seed=999)).routed_to_review


def test_same_image_submitted_twice_shares_one_case(settings, web, submitter, other_submitter, png):
    everything_reads(settings, "uncertain")
    submit(web.login_as(submitter), png(seed=3))
    submit(web.login_as(other_submitter), png(seed=3))
    assert ReviewCase.objects.count() == 1
    assert Submission.objects.filter(routed_to_review=True).count() == 2


def test_machine_never_sets_a_label(settings, web, submitter, png):
    everything_reads(settings, "likely_ai")
    for seed in range(3):
        submit(web.login_as(submitter), png(seed=seed + 20))
    assert not ReviewCase.objects.exclude(label="").exists()
    assert not ReviewCase.objects.filter(status="decided").exists()


def test_thresholds_come_from_the_checkpoint_unless_settings_override(settings, detector_checkpoint):
    from detector.ml.checkpoint import read_checkpoint
    from detector.scoring import active_detector, thresholds_for

    suggested = read_checkpoint(detector_checkpoint).thresholds
    thresholds = thresholds_for(active_detector())
    assert (thresholds.likely_ai, thresholds.likely_human) == (suggested["likely_ai"], suggested["likely_human"])
    settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.9
    assert thresholds_for(active_detector()).likely_ai == 0.9
