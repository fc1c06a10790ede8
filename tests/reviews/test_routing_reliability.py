"""Routing that knows how reliable the classifier is: contest entries all reach a person, the
random check of likely_human images grows with the misses reviewers find, and the result page
says why an image is in review and never calls an image human-made on the classifier's word."""

import pytest
from django.urls import reverse

from detector.ml.metrics import wilson_interval
from detector.models import Collection, Submission
from detector.policy import likely_human_sample_rate
from detector.services import submission_create
from reviews.models import ReviewCase
from reviews.selectors import likely_human_miss_rate
from reviews.services import case_claim_next, case_decide

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def everything_likely_human(settings):
    """Real scores from the real model; the thresholds make every verdict likely_human."""
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 1.0 - 1e-12, 1.0


def scored(user, data, collection=None) -> Submission:
    submission = submission_create(user=user, data=data, collection=collection)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED, submission.failure_reason
    return submission


# --- Review every entry -------------------------------------------------------------------------


def test_every_art_contest_entry_goes_to_a_person_whatever_the_model_says(
    everything_likely_human, web, submitter, collection_for, png
):
    contest = collection_for("art_contest")
    assert contest.review_every_entry is None and contest.reviews_every_entry  # the policy's default
    entries = [scored(submitter, png(seed=700 + i), contest) for i in range(3)]
    assert all(e.routed_to_review and e.routing_reason == "review_every_entry" for e in entries)
    assert {c.reason for c in ReviewCase.objects.all()} == {"review_every_entry"}

    page = web.login_as(submitter).get(reverse("submission-detail", args=[entries[0].pk])).content.decode()
    assert "Every entry of this collection is reviewed by a person." in page
    detail = web.get(reverse("collection-detail", args=[contest.pk])).content.decode()
    assert "a person reviews every entry" in detail


def test_with_review_every_entry_the_machine_clears_no_image_it_reads_likely_human(
    everything_likely_human, submitter, collection_for, png
):
    reviewed = collection_for("general", review_every_entry=True)
    relaxed = collection_for("general", review_every_entry=False)
    entry = scored(submitter, png(seed=710), reviewed)
    assert entry.verdict == "likely_human" and entry.routed_to_review
    plain = scored(submitter, png(seed=711), relaxed)
    assert plain.verdict == "likely_human" and not plain.routed_to_review  # sampling is 0 in these tests
    assert not ReviewCase.objects.filter(asset_id=plain.asset_id).exists()
    assert not collection_for("art_contest", review_every_entry=False).reviews_every_entry


def test_admins_set_review_every_entry_on_the_collection_form(web, site_admin):
    client = web.login_as(site_admin)
    form = client.get(reverse("collection-new")).content.decode()
    assert "Review every entry" in form and "the machine clears none" in form
    client.post(reverse("collection-new"), {
        "name": "Photo desk", "policy": "newsroom", "second_opinion": "unknown",
        "review_every_entry": "true", "is_open": "on",
    })
    collection = Collection.objects.get(name="Photo desk")
    assert collection.review_every_entry is True
    client.post(reverse("collection-edit", args=[collection.pk]), {
        "name": "Photo desk", "policy": "newsroom", "second_opinion": "unknown",
        "review_every_entry": "unknown", "is_open": "on",
    })
    collection.refresh_from_db()
    assert collection.review_every_entry is None and not collection.reviews_every_entry


# --- The measured random check ------------------------------------------------------------------


def test_the_sample_rate_rises_with_measured_misses_and_never_falls_below_the_floor():
    def rate(floor, misses, labels):
        return likely_human_sample_rate(floor=floor, misses=misses, labels=labels, limit=0.05, min_labels=30)[0]

    assert rate(0.1, 0, 0) == 0.1  # nothing measured yet
    assert rate(0.1, 1, 20) == 0.1  # under 30 labels and not conclusive: the floor
    assert rate(0.1, 6, 12) > 0.9  # under 30 labels but even the lower bound passes 5%
    high = wilson_interval(4, 40)[1]
    assert rate(0.1, 4, 40) == pytest.approx(1 - 0.05 / high) and rate(0.1, 4, 40) > 0.5
    assert rate(0.1, 8, 40) > rate(0.1, 4, 40) > rate(0.1, 1, 40)  # more misses, more checks
    assert rate(0.1, 0, 400) == 0.1  # upper bound under 5%: back to the floor
    assert rate(0.95, 4, 40) == 0.95  # never below the floor
    assert 0.0 <= rate(0.0, 40, 40) <= 1.0


def label_sampled_cases(reviewer, ai_labels: int) -> None:
    """A reviewer decides every queued random-check case: the first ``ai_labels`` as AI."""
    decided = 0
    while (case := case_claim_next(reviewer=reviewer)) is not None:
        assert case.reason == "sampled_likely_human"
        decision = "ai" if decided < ai_labels else "human"
        case_decide(case_id=case.pk, reviewer=reviewer, decision=decision, note="compared with the source")
        decided += 1


def test_reviewer_labels_on_the_random_check_raise_the_sample_rate_and_the_dashboard_shows_it(
    settings, everything_likely_human, web, submitter, reviewer, site_admin, png
):
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0  # check everything while the labels come in
    first = [scored(submitter, png(seed=800 + i)) for i in range(32)]
    assert all(s.routing_reason == "sampled_likely_human" for s in first)
    version = first[0].model_version
    label_sampled_cases(reviewer, ai_labels=4)  # people find 4 AI images among 32 "likely human"

    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 0.02  # the configured floor
    estimate = likely_human_miss_rate(version)
    assert (estimate.labels, estimate.misses) == (32, 4) and estimate.ci95_high > 0.05
    assert estimate.sample_rate == pytest.approx(1 - 0.05 / estimate.ci95_high) and estimate.sample_rate > 0.5

    later = [scored(submitter, png(seed=900 + i)) for i in range(10)]
    assert sum(s.routed_to_review for s in later) >= 4  # at the floor, 2% would reach people
    # (some may match the images people labelled AI: then evidence, not chance, sends them)
    reasons = [s.routing_reason for s in later if s.routed_to_review]
    assert "sampled_likely_human" in reasons and set(reasons) <= {"sampled_likely_human", "evidence"}

    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 0.95
    assert likely_human_miss_rate(version).sample_rate == 0.95  # never below the floor

    page = web.login_as(site_admin).get(reverse("dashboard")).content.decode()
    assert version in page and "not enough labels yet" not in page
    assert "raised from" not in page  # at a 95% floor the measured rate does not raise it
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 0.02
    page = web.get(reverse("dashboard") + "?model_version=" + version).content.decode()
    assert "raised from 2.0%" in page and "12.5%" in page  # 4 of 32 labelled AI


def test_the_dashboard_says_when_there_are_not_enough_labels(
    settings, everything_likely_human, web, submitter, reviewer, site_admin, png
):
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0
    submissions = [scored(submitter, png(seed=950 + i)) for i in range(3)]
    label_sampled_cases(reviewer, ai_labels=0)
    estimate = likely_human_miss_rate(submissions[0].model_version)
    assert estimate.labels == 3 and not estimate.enough_labels and estimate.sample_rate == 1.0
    page = web.login_as(site_admin).get(reverse("dashboard")).content.decode()
    assert "not enough labels yet (under 30)" in page


# --- What the result page says ------------------------------------------------------------------


def test_an_image_only_the_classifier_cleared_reads_no_ai_signs_found(everything_likely_human, web, submitter, png):
    submission = scored(submitter, png(seed=720))
    assert submission.verdict == "likely_human" and not submission.fusion["findings"]
    page = web.login_as(submitter).get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "No AI signs found" in page and "Likely human-made" not in page
    assert "That is not proof a person made the image" in page
    listing = web.get(reverse("submission-list")).content.decode()
    assert "No AI signs found" in listing and "Likely human-made" not in listing


@pytest.mark.parametrize(
    "verdict_thresholds, reason_text",
    [
        ((0.0, 1.0), "The model could not tell, so a person decides."),
        ((0.0, 1e-12), "The model scored it likely AI-generated, so a person checks it"),
    ],
    ids=["uncertain", "likely_ai"],
)
def test_the_result_page_says_why_an_image_is_in_review(settings, web, submitter, png, verdict_thresholds, reason_text):
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = verdict_thresholds
    submission = scored(submitter, png(seed=730))
    page = web.login_as(submitter).get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Why a person looks at it:" in page and reason_text in page


def test_a_random_check_is_named_as_one(settings, everything_likely_human, web, submitter, png):
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0
    submission = scored(submitter, png(seed=740))
    assert submission.routing_reason == "sampled_likely_human"
    page = web.login_as(submitter).get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "A random check" in page


def test_evidence_besides_the_classifier_sends_a_likely_human_image_to_a_person(
    everything_likely_human, web, submitter
):
    from PIL import PngImagePlugin

    from tests.evidence.test_evidence_in_the_app import encode, scene

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "ComfyUI")  # a weak, unsigned marker the classifier outweighs
    submission = scored(submitter, encode(scene(12), pnginfo=info))
    assert submission.verdict == "likely_human" and submission.routing_reason == "evidence"
    page = web.login_as(submitter).get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Evidence besides the classifier points to AI" in page
    assert "No AI signs found" not in page
