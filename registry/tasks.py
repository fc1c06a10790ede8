"""Celery tasks: thin interfaces to services, safe to deliver twice (a job runs once)."""

from celery import shared_task

from .jobs import job_run
from .retraining import retrain_when_labels_arrive


@shared_task(name="registry.run_job", acks_late=True)
def run_job(job_id: int) -> str:
    """Run a retrain or rescore job; progress and outcome are written to the Job row."""
    return job_run(job_id).status


@shared_task(name="registry.retrain_when_labels_arrive")
def schedule_retrain() -> int | None:
    """Queue a candidate retrain when enough new labels have arrived (celery beat); the job's id or None."""
    job = retrain_when_labels_arrive()
    return job.pk if job else None
