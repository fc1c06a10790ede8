"""An admin can re-open a decided case for correction; its history stays."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from detector.models import Submission
from reviews.models import ReviewCase

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def decided_case(everything_likely_ai, submit_image, submitter, api_for, reviewer):
    case = submit_image(submitter, seed=51)
    api = api_for(reviewer)
    api.post("/api/v1/review/claim/")
    api.post(f"/api/v1/review/cases/{case.pk}/decision/", {"decision": "ai", "note": "looks generated"}, format="json")
    return ReviewCase.objects.get(pk=case.pk)


def test_admin_requeues_a_decided_case_and_it_is_decided_again(
    decided_case, web, api_for, submitter, reviewer2, site_admin, finalized
):
    client = web.login_as(site_admin)
    page = client.get(reverse("review-case", args=[decided_case.pk])).content.decode()
    assert 'data-testid="requeue-case"' in page
    refused = client.post(reverse("review-requeue", args=[decided_case.pk]), {"reason": "  "}, follow=True)
    assert "Say why this case is re-opened." in refused.content.decode()
    assert ReviewCase.objects.get(pk=decided_case.pk).status == "decided"

    client.post(reverse("review-requeue", args=[decided_case.pk]), {"reason": "artist sent the PSD with layers"})
    case = ReviewCase.objects.get(pk=decided_case.pk)
    assert (case.status, case.label, case.labelled_at, case.round) == ("open", "", None, 2)
    submission = Submission.objects.get(asset_id=case.asset_id)
    review = api_for(submitter).get(f"/api/v1/submissions/{submission.pk}/").json()["review"]
    assert review["state"] == "waiting"

    api = api_for(reviewer2)
    claimed = api.post("/api/v1/review/claim/").json()
    assert claimed["id"] == case.pk and claimed["requeue_reason"] == "artist sent the PSD with layers"
    assert claimed["decisions"] == []  # the new look is independent of the old decision
    page = web.login_as(reviewer2).get(reverse("review-case", args=[case.pk])).content.decode()
    assert "artist sent the PSD with layers" in page and "looks generated" not in page
    api.post(
        f"/api/v1/review/cases/{case.pk}/decision/",
        {"decision": "human", "note": "layers show the process", "reason_codes": ["artist_process_evidence"]},
        format="json",
    )
    decided = api.get(f"/api/v1/review/cases/{case.pk}/").json()
    assert (decided["status"], decided["label"]) == ("decided", "human")
    assert [(d["decision"], d["round"]) for d in decided["decisions"]] == [("ai", 1), ("human", 2)]
    assert finalized == [case.pk]  # the re-decision (the first label came before the fixture hooked in)
    assert [e.action for e in case.events.all()] == [
        "opened", "claimed", "decided", "requeued", "claimed", "decided"
    ]


def test_only_admins_requeue_and_only_decided_cases_with_a_reason(decided_case, web, api_for, reviewer, site_admin):
    url = f"/api/v1/review/cases/{decided_case.pk}/requeue/"
    assert APIClient().post(url, {"reason": "x"}, format="json").status_code == 401
    denied = api_for(reviewer).post(url, {"reason": "x"}, format="json")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
    assert web.login_as(reviewer).post(reverse("review-requeue", args=[decided_case.pk]), {"reason": "x"}).status_code == 403
    assert 'data-testid="requeue-case"' not in web.get(reverse("review-case", args=[decided_case.pk])).content.decode()

    admin = api_for(site_admin)
    missing = admin.post(url, {}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "reason_required"
    assert admin.post(url, {"reason": "wrong label"}, format="json").json()["status"] == "open"
    twice = admin.post(url, {"reason": "again"}, format="json")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "case_not_decided"
