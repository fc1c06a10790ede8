"""Celery tasks: thin interfaces to services, safe to run twice."""

from celery import shared_task
from django.db import OperationalError

from django.conf import settings

from .services import submission_score, submission_score_many, submissions_sweep_pending


@shared_task(
    name="detector.score_submission",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def score_submission(submission_id: int) -> str:
    return submission_score(submission_id=submission_id).status


@shared_task(
    name="detector.score_submissions",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def score_submissions(submission_ids: list[int]) -> int:
    """Score many submissions with batched inference (used by batch uploads)."""
    return len(submission_score_many(submission_ids=submission_ids))


@shared_task(name="detector.sweep_pending")
def sweep_pending() -> int:
    """Run by celery beat: re-queue submissions left pending (e.g. by a broker outage)."""
    return submissions_sweep_pending(older_than_seconds=settings.AIORNOT_SWEEP_PENDING_AFTER_SECONDS)
