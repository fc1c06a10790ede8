"""Reviewers say why (reason codes) and may skip a case they would rather not decide."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews.models import CaseSkip, ReviewCase

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_cases(everything_likely_ai, submit_image, submitter):
    cases = [submit_image(submitter, seed=s) for s in (41, 42)]
    ReviewCase.objects.update(p_ai_at_routing=0.9)  # equally uncertain: the older comes first
    return cases


def test_reason_codes_are_chosen_on_the_form_and_shown_with_the_decision(two_cases, web, reviewer2, reviewer):
    client = web.login_as(reviewer)
    case_url = client.post(reverse("review-claim-next"))["Location"]
    page = client.get(case_url).content.decode()
    for code in ("generator_artifacts", "watermark", "artist_process_evidence", "camera_original", "other"):
        assert f'data-testid="reason-{code}"' in page
    response = client.post(
        case_url, {"decision": "ai", "note": "", "reason_codes": ["watermark", "generator_artifacts"]}
    )
    assert response.status_code == 302
    page = web.login_as(reviewer2).get(case_url).content.decode()
    assert "Decided: <strong>AI-generated</strong>" in page
    assert "Reasons: Generator artifacts (hands, text, textures), Invisible watermark" in page


def test_reason_codes_through_the_api_are_validated_and_returned(two_cases, api_for, reviewer):
    api = api_for(reviewer)
    listed = api.get("/api/v1/review/queue/").json()["reason_codes"]
    assert [r["code"] for r in listed][:2] == ["generator_artifacts", "provenance_metadata"]
    case_id = api.post("/api/v1/review/claim/").json()["id"]
    url = f"/api/v1/review/cases/{case_id}/decision/"
    unknown = api.post(url, {"decision": "ai", "reason_codes": ["vibes"]}, format="json")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_request"
    unexplained = api.post(url, {"decision": "unsure", "reason_codes": ["other"]}, format="json")
    assert unexplained.status_code == 400 and unexplained.json()["error"]["code"] == "note_required"
    done = api.post(
        url, {"decision": "ai", "reason_codes": ["style_only", "matches_known_image", "style_only"]}, format="json"
    )
    assert done.status_code == 201
    assert done.json()["reason_codes"] == ["matches_known_image", "style_only"]
    shown = api.get(f"/api/v1/review/cases/{case_id}/").json()["decisions"]
    assert shown[0]["reason_codes"] == ["matches_known_image", "style_only"]


def test_a_skipped_case_goes_to_others_and_comes_back_to_the_skipper_only_after_the_skip_time(
    settings, two_cases, web, api_for, reviewer, reviewer2
):
    assert settings.AIORNOT_REVIEW_SKIP_HOURS == 24
    first, second = two_cases
    client = web.login_as(reviewer)
    assert client.post(reverse("review-claim-next"))["Location"] == reverse("review-case", args=[first.pk])
    page = client.get(reverse("review-case", args=[first.pk])).content.decode()
    assert 'data-testid="skip-case"' in page and "<kbd>s</kbd>" in page
    response = client.post(reverse("review-skip", args=[first.pk]))
    assert response["Location"] == reverse("review-case", args=[second.pk])  # skipping moves on
    assert "skipped" in [e.action for e in ReviewCase.objects.get(pk=first.pk).events.all()]

    assert api_for(reviewer2).post("/api/v1/review/claim/").json()["id"] == first.pk
    api_for(reviewer2).post(f"/api/v1/review/cases/{first.pk}/release/")
    api = api_for(reviewer)
    api.post(f"/api/v1/review/cases/{second.pk}/skip/")
    assert api.post("/api/v1/review/claim/").status_code == 204  # both skipped, nothing else
    assert api.get("/api/v1/review/queue/").json()["counts"]["available_to_you"] == 0

    CaseSkip.objects.filter(case=first).update(until=timezone.now() - timedelta(seconds=1))  # a day later
    assert api.post("/api/v1/review/claim/").json()["id"] == first.pk


def test_only_the_holder_can_skip(two_cases, api_for, reviewer, reviewer2, submitter):
    case_id = api_for(reviewer).post("/api/v1/review/claim/").json()["id"]
    refused = api_for(reviewer2).post(f"/api/v1/review/cases/{case_id}/skip/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "case_not_claimed"
    assert api_for(submitter).post(f"/api/v1/review/cases/{case_id}/skip/").status_code == 403
