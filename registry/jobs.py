"""Running background jobs: a worker (or the embedded mode's thread) runs a queued retrain or rescore
to the end, recording progress, result or the reason it failed.

Jobs are queued by `services` (`retrain_job_start`, and the rescore that follows a promotion or
rollback); `tasks.run_job` hands them to `job_run` here.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from detector.models import Submission
from detector.scoring import submissions_rescore
from reviews.models import ReviewCase

from .errors import RegistryError
from .models import Job
from .retraining import retrain

logger = logging.getLogger(__name__)


def _job_progress(job_id: int, done: int, message: str = "", total: int | None = None) -> None:
    """Record a running job's progress where people watch it (one UPDATE, no row lock)."""
    fields = {"done": done}
    if message:
        fields["message"] = message[:2000]
    if total is not None:
        fields["total"] = total
    Job.objects.filter(pk=job_id).update(**fields)


def job_run(job_id: int) -> Job:
    """Run a queued job to the end, recording progress, result or the reason it failed."""
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=timezone.now()
    )
    job = Job.objects.get(pk=job_id)
    if not claimed:
        return job  # already run (or running) elsewhere: tasks may be delivered twice
    try:
        if job.kind == Job.Kind.RETRAIN:
            options = dict(job.options or {})
            candidate = retrain(
                actor=job.created_by, log=lambda m: logger.info("retrain job %s: %s", job_id, m),
                progress=lambda done, message: _job_progress(job_id, done, message), **options,
            )
            result = {"candidate": candidate.version, "holdout_evaluation": candidate.holdout_evaluation}
            message = f"Candidate {candidate.version} registered."
        else:
            result = open_cases_rescore(job_id=job_id)
            message = f"Rescored {result['submissions']} submission(s) of {result['cases']} open case(s)."
    except RegistryError as exc:
        Job.objects.filter(pk=job_id).update(status=Job.Status.FAILED, message=exc.message, finished_at=timezone.now())
        return Job.objects.get(pk=job_id)
    except Exception as exc:
        logger.exception("Job %s failed", job_id)
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.FAILED, message=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        return Job.objects.get(pk=job_id)
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.DONE, message=message, result=result, finished_at=timezone.now(),
        done=_job_total(job_id),
    )
    return Job.objects.get(pk=job_id)


def _job_total(job_id: int) -> int:
    """The job's step count (set by the job itself once it knows it), to mark it all done."""
    return Job.objects.filter(pk=job_id).values_list("total", flat=True).first() or 0


def open_cases_rescore(*, job_id: int | None = None) -> dict:
    """Rescore, with the active model, every submission of every case not yet decided."""
    open_assets = ReviewCase.objects.exclude(status=ReviewCase.Status.DECIDED).values_list("asset_id", flat=True)
    ids = list(
        Submission.objects.filter(asset_id__in=open_assets, status=Submission.Status.SCORED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if job_id is not None:
        _job_progress(job_id, 0, f"rescoring {len(ids)} submission(s)", total=len(ids))
    changed = submissions_rescore(
        submission_ids=ids, on_progress=(lambda done: _job_progress(job_id, done)) if job_id is not None else None
    )
    return {"cases": len(set(open_assets)), "submissions": len(ids), "changed_model_version": changed}
