"""Celery tasks for scoring (thin interfaces to ``scoring``, safe to run twice), and how
scoring work is handed to them.

A submission is queued on commit. When the broker is down it stays ``pending`` (stored, logged,
never lost) and the sweeper queues it again later. In the embedded mode's web process the ids go
to the in-process scoring thread instead (``scoring_queue``). The enqueue functions live beside
the tasks because the sweeper task queues the scoring tasks again.
"""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from .models import Submission
from .scoring import SCORING_BATCH_SIZE, submission_score, submission_score_many
from .scoring_queue import in_process_scoring

logger = logging.getLogger(__name__)


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


def submission_enqueue_scoring_many(*, submission_ids: list[int]) -> bool:
    """One task scores the whole list in batches; a broker outage leaves them pending.

    In the embedded mode's web process the ids go to the in-process scoring thread instead
    (a full queue leaves them pending for its sweeper).
    """
    if in_process_scoring.is_running():
        return in_process_scoring.offer(list(submission_ids))
    try:
        score_submissions.delay(list(submission_ids))
    except Exception:
        logger.exception("Could not queue scoring of %d submissions; they stay pending", len(submission_ids))
        return False
    return True


def submission_enqueue_scoring(*, submission_id: int) -> bool:
    """Send the scoring task; a broker outage leaves the submission pending, never lost."""
    if in_process_scoring.is_running():
        return in_process_scoring.offer([submission_id])
    try:
        score_submission.delay(submission_id)
    except Exception:  # kombu raises many connection error types
        logger.exception("Could not queue scoring of submission %s; it stays pending", submission_id)
        return False
    return True


def submissions_sweep_pending(*, older_than_seconds: int) -> int:
    """Queue scoring again for submissions still pending after `older_than_seconds`.

    A broker outage leaves new submissions stored and pending; this sweeper (run by celery
    beat, or by the in-process scoring thread in the embedded mode) hands them to the workers
    once the broker is back. Scoring is idempotent, so a submission queued twice is still
    scored once.
    """
    cutoff = timezone.now() - datetime.timedelta(seconds=older_than_seconds)
    ids = list(
        Submission.objects.filter(status=Submission.Status.PENDING, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:5000]
    )
    for start in range(0, len(ids), SCORING_BATCH_SIZE):
        submission_enqueue_scoring_many(submission_ids=ids[start : start + SCORING_BATCH_SIZE])
    if ids:
        logger.info("Sweeper re-queued %d pending submission(s)", len(ids))
    return len(ids)
