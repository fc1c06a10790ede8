"""Helpers for the review workflow tests: real images scored by the test model, in collections."""

from __future__ import annotations

import pytest

from detector.models import Collection, Submission
from detector.services import submission_create
from reviews.models import ReviewCase


@pytest.fixture
def everything_likely_ai(settings):
    """Real scores from the real model; the thresholds make every verdict likely_ai."""
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12


@pytest.fixture
def collection_for(site_admin):
    def make(policy: str = "general", **extra) -> Collection:
        return Collection.objects.create(name=f"{policy} {Collection.objects.count() + 1}", policy=policy,
                                         created_by=site_admin, **extra)

    return make


@pytest.fixture
def submit_image(png):
    """Submit a real PNG (scored in-process) and return its review case."""

    def submit(user, seed: int, collection: Collection | None = None, note: str = "", data: bytes | None = None):
        submission = submission_create(user=user, data=data or png(seed=seed), collection=collection, note=note)
        submission.refresh_from_db()
        assert submission.status == Submission.Status.SCORED, submission.failure_reason
        return ReviewCase.objects.get(asset_id=submission.asset_id)

    return submit


@pytest.fixture
def finalized(monkeypatch):
    """Case ids passed to webhooks_case_finalized (after commit), in order."""
    calls: list[int] = []
    monkeypatch.setattr("reviews.services.webhooks_case_finalized", lambda *, case_id: calls.append(case_id))
    return calls
