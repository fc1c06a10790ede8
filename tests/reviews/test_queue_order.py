"""The queue offers the case whose deadline is soonest, then the one most in need of a person, then the oldest."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviews.models import ReviewCase

pytestmark = pytest.mark.django_db(transaction=True)


def test_deadline_first_then_uncertainty_with_art_contest_ai_calls_up_front_then_age(
    everything_likely_ai, collection_for, submit_image, submitter, api_for, reviewer
):
    now = timezone.now()
    due_tomorrow = collection_for("general", deadline=now + timedelta(days=1))
    due_in_two_days = collection_for("newsroom", deadline=now + timedelta(days=2))
    contest = collection_for("art_contest")
    # Submitted in an order that age alone would not sort right; then the model's reading is
    # pinned (the tiny test model's own scores are arbitrary).
    sure_ai = submit_image(submitter, seed=1)
    near_even = submit_image(submitter, seed=2)
    leaning_human = submit_image(submitter, seed=3)
    contest_ai = submit_image(submitter, seed=4, collection=contest)
    due_later = submit_image(submitter, seed=5, collection=due_in_two_days)
    due_sooner = submit_image(submitter, seed=6, collection=due_tomorrow)
    for case, p_ai in [(sure_ai, 0.95), (near_even, 0.52), (leaning_human, 0.2), (contest_ai, 0.97),
                       (due_later, 0.9), (due_sooner, 0.9)]:
        verdict = "likely_ai" if p_ai >= 0.9 else "uncertain"
        ReviewCase.objects.filter(pk=case.pk).update(p_ai_at_routing=p_ai, verdict_at_routing=verdict)

    api = api_for(reviewer)
    offered = []
    while (response := api.post("/api/v1/review/claim/")).status_code == 200:
        offered.append(response.json()["id"])
        api.post(f"/api/v1/review/cases/{offered[-1]}/decision/", {"decision": "unsure"}, format="json")
    assert offered == [c.pk for c in (due_sooner, due_later, contest_ai, near_even, leaning_human, sure_ai)]


def test_an_image_entered_in_a_collection_with_a_deadline_later_is_moved_up(
    everything_likely_ai, collection_for, submit_image, submitter, other_submitter, api_for, reviewer
):
    waiting_long = submit_image(submitter, seed=7)
    resubmitted = submit_image(submitter, seed=8)
    submit_image(other_submitter, seed=8, collection=collection_for("general", deadline=timezone.now()))
    ReviewCase.objects.update(p_ai_at_routing=0.5)
    assert api_for(reviewer).post("/api/v1/review/claim/").json()["id"] == resubmitted.pk != waiting_long.pk
