"""Reviewers claim, decide and label; submitters see the outcome; all of it is audited."""

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from detector.models import Submission
from reviews.models import CaseEvent, ReviewCase
from reviews.services import ReviewError, case_claim_next, case_decide, case_release

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(settings, web, submitter, png):
    """Three images from the submitter, all routed to review by a real score."""
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    client = web.login_as(submitter)
    for seed in range(3):
        client.post(reverse("submit"), {"image": SimpleUploadedFile(f"e{seed}.png", png(seed=seed + 50))})
    client.logout()
    assert ReviewCase.objects.filter(status="open").count() == 3
    return list(ReviewCase.objects.order_by("id"))


def test_reviewer_claims_sees_image_score_verdict_and_decides(queued, web, reviewer, submitter):
    client = web.login_as(reviewer)
    assert "3 waiting" in client.get(reverse("review-queue")).content.decode()
    response = client.post(reverse("review-claim-next"))
    case = queued[0]
    assert response["Location"] == reverse("review-case", args=[case.pk])
    page = client.get(response["Location"]).content.decode()
    ai = round(case.p_ai_at_routing * 100)
    assert f"AI-generated: {ai}%" in page and "Likely AI-generated" in page
    assert case.model_version_at_routing in page
    assert client.get(reverse("review-case-image", args=[case.pk])).status_code == 200

    response = client.post(reverse("review-case", args=[case.pk]), {"decision": "ai", "note": "hands are wrong"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.label) == ("decided", "ai") and case.labelled_at
    decision = case.decisions.get()
    assert (decision.reviewer, decision.note, decision.model_verdict) == (reviewer, "hands are wrong", "likely_ai")
    assert [e.action for e in case.events.all()] == ["opened", "claimed", "decided"]

    submission = Submission.objects.get(asset=case.asset)
    client = web.login_as(submitter)
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "A reviewer decided" in page and "AI-generated" in page
    api = client.get(f"/api/v1/submissions/{submission.pk}/").json()
    assert api["review"]["state"] == "decided" and api["review"]["label"] == "ai"
    assert "review_decided" in [e.action for e in submission.events.all()]


def test_two_reviewers_never_hold_the_same_case(queued, reviewer, reviewer2):
    first = case_claim_next(reviewer=reviewer)
    second = case_claim_next(reviewer=reviewer2)
    assert first.pk != second.pk
    assert case_claim_next(reviewer=reviewer).pk == first.pk  # one case at a time, the one you hold
    with pytest.raises(ReviewError) as info:
        case_decide(case_id=first.pk, reviewer=reviewer2, decision="human", note="x")
    assert info.value.code == "case_not_claimed"


def test_concurrent_claims_give_each_case_to_exactly_one_reviewer(queued, django_user_model, reviewer):
    from django.contrib.auth.models import Group

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race is exercised on PostgreSQL (CI sets DATABASE_URL)")

    group = Group.objects.get(name="reviewers")
    reviewers = []
    for i in range(6):
        user = django_user_model.objects.create_user(username=f"r{i}", password="x")
        user.groups.add(group)
        reviewers.append(user)
    results, errors = [], []
    barrier = threading.Barrier(len(reviewers))

    def claim(user):
        try:
            barrier.wait()
            case = case_claim_next(reviewer=user)
            results.append((user.pk, case.pk if case else None))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    claimed = [case_id for _, case_id in results if case_id is not None]
    assert sorted(claimed) == [c.pk for c in queued]  # 3 cases, 6 reviewers: each case once
    assert CaseEvent.objects.filter(action="claimed").count() == 3


def test_expired_claim_returns_the_case_to_the_queue(queued, reviewer, reviewer2):
    case = case_claim_next(reviewer=reviewer)
    ReviewCase.objects.filter(pk=case.pk).update(lease_expires_at=timezone.now() - timezone.timedelta(seconds=1))
    claimed = {case_claim_next(reviewer=reviewer2).pk}
    assert case.pk in claimed
    with pytest.raises(ReviewError):
        case_decide(case_id=case.pk, reviewer=reviewer, decision="ai")


def test_released_case_can_be_claimed_by_someone_else(queued, web, reviewer, reviewer2):
    client = web.login_as(reviewer)
    client.post(reverse("review-claim-next"))
    case = ReviewCase.objects.get(claimed_by=reviewer)
    client.post(reverse("review-release", args=[case.pk]))
    assert case_claim_next(reviewer=reviewer2).pk == case.pk
    assert "released" in [e.action for e in case.events.all()]


def test_disagreeing_with_the_model_needs_a_note(queued, web, reviewer):
    client = web.login_as(reviewer)
    client.post(reverse("review-claim-next"))
    case = ReviewCase.objects.get(claimed_by=reviewer)
    response = client.post(reverse("review-case", args=[case.pk]), {"decision": "human", "note": ""})
    assert response.status_code == 400
    assert "differs from the model" in response.content.decode()
    response = client.post(reverse("review-case", args=[case.pk]), {"decision": "human", "note": "artist sent WIP files"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.label == "human"


def test_unsure_is_a_recorded_decision(queued, reviewer):
    case = case_claim_next(reviewer=reviewer)
    case_decide(case_id=case.pk, reviewer=reviewer, decision="unsure")
    case.refresh_from_db()
    assert (case.status, case.label) == ("decided", "unsure")


def test_a_case_is_decided_only_once(queued, reviewer):
    case = case_claim_next(reviewer=reviewer)
    case_decide(case_id=case.pk, reviewer=reviewer, decision="ai")
    with pytest.raises(ReviewError) as info:
        case_decide(case_id=case.pk, reviewer=reviewer, decision="human", note="changed my mind")
    assert info.value.code == "case_already_decided"


def test_reviewers_do_not_get_their_own_submissions(settings, web, reviewer, png):
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    web.login_as(reviewer).post(reverse("submit"), {"image": SimpleUploadedFile("mine.png", png(seed=77))})
    assert ReviewCase.objects.count() == 1
    assert case_claim_next(reviewer=reviewer) is None


def test_review_pages_and_api_are_for_reviewers_only(queued, web, submitter, api_for):
    client = web.login_as(submitter)
    assert client.get(reverse("review-queue")).status_code == 403
    assert client.post(reverse("review-claim-next")).status_code == 403
    assert client.get(reverse("review-case", args=[queued[0].pk])).status_code == 403
    response = api_for(submitter).post("/api/v1/review/claim/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_a_reviewer_cannot_open_a_case_held_by_another(queued, web, reviewer, reviewer2):
    case = case_claim_next(reviewer=reviewer)
    client = web.login_as(reviewer2)
    assert client.get(reverse("review-case", args=[case.pk])).status_code == 404
    assert client.get(reverse("review-case-image", args=[case.pk])).status_code == 404


def test_review_through_the_api(queued, api_for, reviewer):
    api = api_for(reviewer)
    assert api.get("/api/v1/review/queue/").json()["counts"]["waiting"] == 3
    case = api.post("/api/v1/review/claim/").json()
    assert case["model"]["verdict"] == "likely_ai" and case["model"]["ai_generated"].startswith("AI-generated: ")
    bad = api.post(f"/api/v1/review/cases/{case['id']}/decision/", {"decision": "maybe"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    note_needed = api.post(f"/api/v1/review/cases/{case['id']}/decision/", {"decision": "human"}, format="json")
    assert note_needed.status_code == 400 and note_needed.json()["error"]["code"] == "note_required"
    done = api.post(f"/api/v1/review/cases/{case['id']}/decision/", {"decision": "ai", "note": ""}, format="json")
    assert done.status_code == 201 and done.json()["decision"] == "ai"
    again = api.post(f"/api/v1/review/cases/{case['id']}/decision/", {"decision": "ai"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_already_decided"
    missing = api.post("/api/v1/review/cases/999999/release/")
    assert missing.status_code == 404
    for _ in range(2):
        claimed = api.post("/api/v1/review/claim/").json()
        api.post(f"/api/v1/review/cases/{claimed['id']}/decision/", {"decision": "unsure"}, format="json")
    assert api.post("/api/v1/review/claim/").status_code == 204


def test_audit_events_cannot_be_edited_or_deleted(queued):
    event = CaseEvent.objects.first()
    event.action = "tampered"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
