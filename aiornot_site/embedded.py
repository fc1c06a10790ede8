"""The embedded mode (no broker): the web process scores uploads in its own background thread
and does celery beat's periodic work itself.

It lives here, above the apps, because it joins two of them: detector's scoring and sweeper, and
registry's scheduled retrain (which itself rescores through detector). The WSGI/ASGI entry points
start it in each server process (never with gunicorn --preload: threads do not survive fork).
"""

from __future__ import annotations

import logging

from django.conf import settings

from detector.scoring import detector_load, submission_score_many
from detector.scoring_queue import in_process_scoring
from detector.tasks import submissions_sweep_pending
from registry.retraining import retrain_when_labels_arrive

logger = logging.getLogger(__name__)


def embedded_scoring_start() -> bool:
    """Start this process's scoring thread when the embedded mode asks for it (no broker).

    Called by the WSGI/ASGI entry points; False when not wanted or already running.
    """
    if not settings.AIORNOT_SCORING_IN_THREAD:
        return False
    if settings.AIORNOT_WARM_UP_BEFORE_SERVING:
        # Load the model before this process takes requests: loading it beside the first upload
        # would make that upload wait for the CPU (a server that is not ready simply answers later).
        try:
            detector_load()
        except Exception:
            logger.exception("Loading the model at start failed; the scoring thread tries again")
    return in_process_scoring.start(
        score_many=lambda ids: submission_score_many(submission_ids=ids),
        sweep=embedded_sweep,
        max_jobs=settings.AIORNOT_SCORING_QUEUE_SIZE,
        sweep_every_seconds=settings.AIORNOT_SWEEP_PENDING_EVERY_SECONDS,
        warm_up=detector_load,
        niceness=settings.AIORNOT_SCORING_THREAD_NICE,
    )


def embedded_sweep() -> int:
    """The embedded mode's periodic work (what celery beat does with a broker): re-queue pending
    submissions, then queue a candidate retrain if enough new labels have arrived."""
    requeued = submissions_sweep_pending(older_than_seconds=settings.AIORNOT_SWEEP_PENDING_AFTER_SECONDS)
    try:
        retrain_when_labels_arrive()
    except Exception:
        logger.exception("Checking for a scheduled retrain failed; the next sweep tries again")
    return requeued
