"""The model registry itself: register a checkpoint, promote a candidate past the guard, roll back,
and queue the background jobs (rescore, retrain) that those changes start.

Every change of a version's state goes through here, in one transaction with its ModelEvent.
Retraining is in `retraining`, running jobs in `jobs`, the verified file store in `checkpoints`.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import close_old_connections, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from detector.ml.digests import file_sha256

from .checkpoints import checkpoint_local_path
from .errors import RegistryError
from .models import Job, ModelEvent, ModelVersion
from .selectors import active_model_version

logger = logging.getLogger(__name__)


def _event(version: ModelVersion, action: str, actor=None, **data) -> ModelEvent:
    return ModelEvent.objects.create(model_version=version, action=action, actor=actor, data=data)


# --- Registration -------------------------------------------------------------------------------


def model_register(
    *, path, status: str = ModelVersion.Status.CANDIDATE, parent: ModelVersion | None = None, actor=None,
    holdout_evaluation: dict | None = None, note: str = "",
) -> ModelVersion:
    """Copy a checkpoint into storage and record it. Raises RegistryError for an unusable file."""
    from detector.ml.checkpoint import CheckpointError, read_checkpoint  # torch stays out of the web process

    path = Path(path)
    if not path.is_file():
        raise RegistryError("model_file_missing", gettext("There is no checkpoint file at %(path)s.") % {"path": path}, 404)
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as exc:
        raise RegistryError("model_file_unusable", str(exc)) from None
    sha256 = file_sha256(path)
    existing = ModelVersion.objects.filter(version=checkpoint.model_version).first()
    if existing is not None:
        if existing.sha256 != sha256:
            raise RegistryError(
                "model_version_conflict",
                gettext("Version %(version)s is registered with another file (sha256 %(sha)s).") % {
                    "version": checkpoint.model_version, "sha": existing.sha256[:12],
                },
                409,
            )
        return existing
    name = f"models/{checkpoint.model_version}-{sha256[:12]}.pt"
    with open(path, "rb") as handle:
        stored = default_storage.save(name, File(handle, name=os.path.basename(name)))
    with transaction.atomic():
        version = ModelVersion.objects.create(
            version=checkpoint.model_version,
            file=stored,
            sha256=sha256,
            size_bytes=path.stat().st_size,
            arch=checkpoint.arch,
            status=status,
            parent=parent,
            data_summary=checkpoint.data_summary or {},
            validation_metrics={k: v for k, v in (checkpoint.metrics or {}).items() if k not in ("history",)},
            holdout_evaluation=holdout_evaluation or {},
            thresholds=dict(checkpoint.thresholds),
            created_by=actor,
            promoted_at=timezone.now() if status == ModelVersion.Status.ACTIVE else None,
            promoted_by=actor if status == ModelVersion.Status.ACTIVE else None,
            note=note,
        )
        _event(version, "registered", actor=actor, status=status, sha256=sha256, file=stored)
    return version


def builtin_model_ensure(actor=None) -> ModelVersion:
    """The active version; on a fresh install, register the configured built-in checkpoint as active."""
    active = active_model_version()
    if active is not None:
        return active
    return model_register(
        path=settings.AIORNOT_DETECTOR_CHECKPOINT,
        status=ModelVersion.Status.ACTIVE,
        actor=actor,
        note="The built-in checkpoint (AIORNOT_DETECTOR_CHECKPOINT), registered when the registry was first used.",
    )


# --- Promotion guard, promotion and rollback ----------------------------------------------------


def promotion_refusals(candidate: ModelVersion, active: ModelVersion | None) -> list[str]:
    """Why the candidate may not replace the active model (empty list: it may), in the active language."""
    reasons = []
    evaluation = candidate.holdout_evaluation or {}
    cand, act = evaluation.get("candidate") or {}, evaluation.get("active") or {}
    if active is not None and evaluation.get("active_version") != active.version:
        reasons.append(
            gettext(
                "It was compared with %(compared)s, but %(active)s is active now: retrain to compare it on the "
                "same hold-out."
            ) % {"compared": evaluation.get("active_version") or gettext("no model"), "active": active.version}
        )
        return reasons
    minimum = settings.AIORNOT_PROMOTION_MIN_HOLDOUT_PER_CLASS
    if (cand.get("human") or 0) < minimum or (cand.get("ai") or 0) < minimum:
        reasons.append(
            gettext(
                "The hold-out has %(human)s human-labelled and %(ai)s AI-labelled images; the guard needs at least "
                "%(minimum)s of each to compare models."
            ) % {"human": cand.get("human") or 0, "ai": cand.get("ai") or 0, "minimum": minimum}
        )
        return reasons
    if cand.get("roc_auc") is None or (act and act.get("roc_auc") is None):
        reasons.append(gettext("ROC AUC is undefined on the hold-out."))
        return reasons
    if act and cand["roc_auc"] < act["roc_auc"]:
        reasons.append(
            gettext("Its ROC AUC on the hold-out, %(candidate)s, is worse than the active model's %(active)s.")
            % {"candidate": f"{cand['roc_auc']:.4f}", "active": f"{act['roc_auc']:.4f}"}
        )
    cap = settings.AIORNOT_PROMOTION_MAX_FPR
    if cand.get("fpr") is None or cand["fpr"] > cap:
        reasons.append(
            gettext(
                "It calls %(false_positives)s of %(human)s human-labelled hold-out images likely AI (%(rate)s%%), "
                "above the %(cap)s%% cap."
            ) % {
                "false_positives": cand.get("false_positives"), "human": cand.get("human"),
                "rate": f"{100 * (cand.get('fpr') or 0):.2f}", "cap": f"{100 * cap:.2f}",
            }
        )
    art = cand.get("artworks") or 0
    if art >= minimum and cand.get("art_fpr") is not None and cand["art_fpr"] > cap:
        reasons.append(
            gettext(
                "It calls %(false_positives)s of %(art)s human-made artworks in the hold-out (art-contest labels) "
                "likely AI (%(rate)s%%), above the %(cap)s%% cap."
            ) % {
                "false_positives": cand.get("art_false_positives"), "art": art,
                "rate": f"{100 * cand['art_fpr']:.2f}", "cap": f"{100 * cap:.2f}",
            }
        )
    return reasons


def _activate(target: ModelVersion, actor, action: str, **data) -> ModelVersion:
    checkpoint_local_path(target)  # refuse a missing or altered file before anything changes
    with transaction.atomic():
        previous = ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE).first()
        if previous is not None:
            previous.status = ModelVersion.Status.RETIRED
            previous.save(update_fields=["status"])
            _event(previous, "retired", actor=actor, replaced_by=target.version)
        target.status = ModelVersion.Status.ACTIVE
        target.promoted_at = timezone.now()
        target.promoted_by = actor
        target.save(update_fields=["status", "promoted_at", "promoted_by"])
        _event(target, action, actor=actor, previous=previous.version if previous else None, **data)
        job = Job.objects.create(kind=Job.Kind.RESCORE, created_by=actor, options={"model_version": target.version})
        transaction.on_commit(lambda: job_enqueue(job))
    return target


def model_promote(*, version: str, actor=None) -> ModelVersion:
    """Make a candidate the active model if the guard allows it; open cases are then rescored."""
    candidate = ModelVersion.objects.filter(version=version).first()
    if candidate is None:
        raise RegistryError("model_not_found", gettext("There is no model version %(version)s.") % {"version": repr(version)}, 404)
    if candidate.status != ModelVersion.Status.CANDIDATE:
        raise RegistryError(
            "model_not_candidate",
            (
                gettext("%(version)s is %(status)s, not a candidate (to return to it, roll back).")
                if candidate.status == ModelVersion.Status.RETIRED
                else gettext("%(version)s is %(status)s, not a candidate.")
            ) % {"version": version, "status": candidate.get_status_display().lower()},
            409,
        )
    active = active_model_version()
    reasons = promotion_refusals(candidate, active)
    if reasons:
        with translation.override("en"):  # the audit trail keeps one language, whoever clicked
            _event(candidate, "promotion_refused", actor=actor, reasons=promotion_refusals(candidate, active))
        raise RegistryError("promotion_refused", gettext("Not promoted.") + " " + " ".join(reasons), 409)
    return _activate(candidate, actor, "promoted")


def model_rollback(*, version: str, actor=None) -> ModelVersion:
    """Return to an earlier (retired) version in one step; open cases are then rescored."""
    target = ModelVersion.objects.filter(version=version).first()
    if target is None:
        raise RegistryError("model_not_found", gettext("There is no model version %(version)s.") % {"version": repr(version)}, 404)
    if target.status != ModelVersion.Status.RETIRED:
        raise RegistryError(
            "model_not_retired",
            gettext("%(version)s is %(status)s: only an earlier, retired version can be rolled back to.") % {
                "version": version, "status": target.get_status_display().lower(),
            },
            409,
        )
    return _activate(target, actor, "rolled_back_to")


# --- Queueing background jobs -----------------------------------------------------------------


def job_enqueue(job: Job) -> bool:
    """Hand the job to a Celery worker; if the broker is down it stays queued (and says so)."""
    from .tasks import run_job  # tasks sit above every registry module; a job reaches them when queued

    if settings.AIORNOT_JOBS_IN_THREAD:
        threading.Thread(
            target=_job_run_in_thread, args=(run_job, job.pk), name=f"aiornot-job-{job.pk}", daemon=True
        ).start()
        return True
    try:
        run_job.delay(job.pk)
        return True
    except Exception as exc:
        logger.warning("Could not enqueue job %s: %s", job.pk, exc)
        Job.objects.filter(pk=job.pk).update(message=f"Waiting: the task queue could not be reached ({exc}).")
        return False


def _job_run_in_thread(run_job, job_id: int) -> None:
    """The embedded mode's worker: run the job's task here, then release this thread's connection."""
    try:
        run_job(job_id)
    finally:
        close_old_connections()


def retrain_job_start(*, actor, options: dict | None = None, trigger: str = Job.Trigger.ADMIN, message: str = "") -> Job:
    """Queue a retrain for a worker; the web process never trains."""
    if Job.objects.filter(kind=Job.Kind.RETRAIN, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).exists():
        raise RegistryError("retrain_running", gettext("A retrain is already queued or running; wait for it to finish."), 409)
    job = Job.objects.create(
        kind=Job.Kind.RETRAIN, created_by=actor, options=options or {}, total=4, trigger=trigger, message=message
    )
    transaction.on_commit(lambda: job_enqueue(job))
    return job
