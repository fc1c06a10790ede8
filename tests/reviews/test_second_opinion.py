"""In art contests an AI label needs two independent reviewers; disagreement goes to an admin."""

import pytest
from django.urls import reverse

from detector.models import Submission
from reviews.models import ReviewCase

pytestmark = pytest.mark.django_db(transaction=True)

FIRST_NOTE = "six fingers on the left hand, melted frame"


@pytest.fixture
def contest_case(everything_likely_ai, collection_for, submit_image, submitter):
    contest = collection_for("art_contest")
    return submit_image(submitter, seed=11, collection=contest, note="painted in Procreate over two weeks")


def first_reviewer_says_ai(web, reviewer, case):
    client = web.login_as(reviewer)
    assert client.post(reverse("review-claim-next"))["Location"] == reverse("review-case", args=[case.pk])
    response = client.post(
        reverse("review-case", args=[case.pk]),
        {"decision": "ai", "note": FIRST_NOTE, "reason_codes": ["generator_artifacts"]},
        follow=True,
    )
    assert "needs a second, independent reviewer" in response.content.decode()
    return client


def submitter_sees(web, submitter, case, api_for):
    submission = Submission.objects.get(asset_id=case.asset_id)
    page = web.login_as(submitter).get(reverse("submission-detail", args=[submission.pk])).content.decode()
    review = api_for(submitter).get(f"/api/v1/submissions/{submission.pk}/").json()["review"]
    return page, review


def test_an_ai_decision_in_an_art_contest_waits_for_a_second_independent_reviewer(
    contest_case, web, api_for, submitter, reviewer, reviewer2, finalized
):
    first_reviewer_says_ai(web, reviewer, contest_case)
    page, review = submitter_sees(web, submitter, contest_case, api_for)
    assert review["state"] != "decided" and review.get("label") in (None, "")
    assert "A reviewer decided" not in page
    assert finalized == []
    # The first reviewer cannot give the second opinion.
    assert api_for(reviewer).post("/api/v1/review/claim/").status_code == 204

    api = api_for(reviewer2)
    claimed = api.post("/api/v1/review/claim/").json()
    assert claimed["id"] == contest_case.pk
    done = api.post(f"/api/v1/review/cases/{contest_case.pk}/decision/", {"decision": "ai", "note": "agree"}, format="json")
    assert done.status_code == 201 and done.json()["stage"] == "second_opinion"

    page, review = submitter_sees(web, submitter, contest_case, api_for)
    assert review["state"] == "decided" and review["label"] == "ai"
    assert finalized == [contest_case.pk]
    decided = api.get(f"/api/v1/review/cases/{contest_case.pk}/").json()
    assert decided["status"] == "decided"
    assert [(d["reviewer"], d["decision"], d["stage"]) for d in decided["decisions"]] == [
        ("rita", "ai", "review"), ("ravi", "ai", "second_opinion")
    ]
    actions = [e.action for e in ReviewCase.objects.get(pk=contest_case.pk).events.all()]
    assert actions == ["opened", "claimed", "decided", "second_opinion_requested", "claimed", "decided"]


def test_the_second_reviewer_does_not_see_the_first_decision(contest_case, web, api_for, reviewer, reviewer2):
    first_reviewer_says_ai(web, reviewer, contest_case)
    client = web.login_as(reviewer2)
    location = client.post(reverse("review-claim-next"))["Location"]
    assert location == reverse("review-case", args=[contest_case.pk])
    page = client.get(location).content.decode()
    assert FIRST_NOTE not in page and "rita" not in page
    assert "second opinion" not in page.lower() and "second, independent" not in page and "awaiting_second" not in page
    assert 'data-testid="case-decisions"' not in page
    assert 'data-testid="save-decision"' in page
    assert "painted in Procreate over two weeks" in page  # the submitter's note is shown

    seen = api_for(reviewer2).get(f"/api/v1/review/cases/{contest_case.pk}/").json()
    assert seen["status"] == "open" and seen["decisions"] == []
    assert FIRST_NOTE not in str(seen)
    counts = api_for(reviewer2).get("/api/v1/review/queue/").json()["counts"]
    assert "by_status" not in counts and counts["open"] == 1


def test_disagreement_escalates_to_an_admin_whose_decision_is_final(
    contest_case, web, api_for, submitter, reviewer, reviewer2, site_admin, finalized
):
    first_reviewer_says_ai(web, reviewer, contest_case)
    api = api_for(reviewer2)
    api.post("/api/v1/review/claim/")
    response = api.post(
        f"/api/v1/review/cases/{contest_case.pk}/decision/",
        {"decision": "human", "note": "brush strokes in the layered file", "reason_codes": ["artist_process_evidence"]},
        format="json",
    )
    assert response.status_code == 201
    case = ReviewCase.objects.get(pk=contest_case.pk)
    assert (case.status, case.label) == ("escalated", "")
    assert finalized == []
    # Nobody in the reviewer queue gets it; reviewers cannot decide it or see the escalation list.
    assert api_for(reviewer).post("/api/v1/review/claim/").status_code == 204
    assert api.post("/api/v1/review/claim/").status_code == 204
    assert web.login_as(reviewer).get(reverse("review-escalations")).status_code == 403
    forbidden = api_for(reviewer).get("/api/v1/review/escalations/")
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "permission_denied"
    _, review = submitter_sees(web, submitter, contest_case, api_for)
    assert review["state"] != "decided"

    admin_api = api_for(site_admin)
    assert admin_api.get("/api/v1/review/queue/").json()["counts"]["by_status"]["escalated"] == 1
    listed = admin_api.get("/api/v1/review/escalations/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == case.pk
    assert [(d["reviewer"], d["decision"]) for d in listed["results"][0]["round_decisions"]] == [
        ("rita", "ai"), ("ravi", "human")
    ]
    client = web.login_as(site_admin)
    page = client.get(reverse("review-escalations")).content.decode()
    assert FIRST_NOTE in page and "brush strokes in the layered file" in page
    page = client.get(reverse("review-case", args=[case.pk])).content.decode()
    assert FIRST_NOTE in page and "brush strokes in the layered file" in page and 'data-testid="save-decision"' in page

    response = client.post(
        reverse("review-case", args=[case.pk]),
        {"decision": "human", "note": "process files convince me", "reason_codes": ["artist_process_evidence"]},
    )
    assert response.status_code == 302 and response["Location"] == reverse("review-escalations")
    case.refresh_from_db()
    assert (case.status, case.label) == ("decided", "human")
    assert finalized == [case.pk]
    _, review = submitter_sees(web, submitter, contest_case, api_for)
    assert review["state"] == "decided" and review["label"] == "human"
    again = admin_api.post(f"/api/v1/review/escalations/{case.pk}/decision/", {"decision": "ai"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_already_decided"
    assert [e.action for e in case.events.all()][-3:] == ["decided", "escalated", "decided"]


def test_an_admin_who_reviewed_the_case_cannot_settle_its_escalation(
    contest_case, web, api_for, reviewer, site_admin
):
    first_reviewer_says_ai(web, site_admin, contest_case)
    api = api_for(reviewer)
    api.post("/api/v1/review/claim/")
    api.post(f"/api/v1/review/cases/{contest_case.pk}/decision/", {"decision": "unsure"}, format="json")
    response = api_for(site_admin).post(
        f"/api/v1/review/escalations/{contest_case.pk}/decision/", {"decision": "ai"}, format="json"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_independent"
    assert ReviewCase.objects.get(pk=contest_case.pk).status == "escalated"


def test_human_and_unsure_are_final_at_once_even_in_an_art_contest(
    everything_likely_ai, collection_for, submit_image, submitter, api_for, reviewer, finalized
):
    contest = collection_for("art_contest")
    cases = [submit_image(submitter, seed=s, collection=contest) for s in (21, 22)]
    api = api_for(reviewer)
    for decision in ("human", "unsure"):
        claimed = api.post("/api/v1/review/claim/").json()
        api.post(f"/api/v1/review/cases/{claimed['id']}/decision/", {"decision": decision, "note": "no"}, format="json")
    assert sorted(ReviewCase.objects.values_list("status", "label")) == [("decided", "human"), ("decided", "unsure")]
    assert sorted(finalized) == sorted(c.pk for c in cases)


def test_a_collection_can_switch_second_opinions_on_or_off(
    everything_likely_ai, collection_for, submit_image, submitter, api_for, reviewer
):
    general_but_careful = collection_for("general", second_opinion=True)
    relaxed_contest = collection_for("art_contest", second_opinion=False)
    careful = submit_image(submitter, seed=31, collection=general_but_careful)
    relaxed = submit_image(submitter, seed=32, collection=relaxed_contest)
    api = api_for(reviewer)
    for _ in range(2):
        claimed = api.post("/api/v1/review/claim/").json()
        api.post(f"/api/v1/review/cases/{claimed['id']}/decision/", {"decision": "ai"}, format="json")
    assert ReviewCase.objects.get(pk=careful.pk).status == "awaiting_second"
    assert ReviewCase.objects.get(pk=relaxed.pk).status == "decided"
