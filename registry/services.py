"""The model registry and the loop that turns reviewer labels into the next model.

register -> (export labels, retrain, evaluate on the frozen hold-out) -> promote, guarded
-> rescore open cases; and roll back to any earlier version in one step. Views, the API,
Celery tasks and management commands all call these functions.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from detector.models import Submission
from reviews.models import ReviewCase

from .models import Job, LabelSplit, ModelEvent, ModelVersion

logger = logging.getLogger(__name__)

EXPORT_COLUMNS = [
    "path", "label", "origin", "case_id", "submission_id", "submitted_at", "labelled_at",
    "collection", "submission_source", "source_url", "sha256", "generator",
]
SELF_TRAINING_AI_AT_LEAST = 0.8
SELF_TRAINING_HUMAN_AT_MOST = 0.2


class RegistryError(Exception):
    """A refused registry operation; `code` is stable, `message` is for people, `http_status` 4xx."""

    def __init__(self, code: str, message: str, http_status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


def _event(version: ModelVersion, action: str, actor=None, **data) -> ModelEvent:
    return ModelEvent.objects.create(model_version=version, action=action, actor=actor, data=data)


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- The registry -----------------------------------------------------------------------------


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def model_register(
    *, path, status: str = ModelVersion.Status.CANDIDATE, parent: ModelVersion | None = None, actor=None,
    holdout_evaluation: dict | None = None, note: str = "",
) -> ModelVersion:
    """Copy a checkpoint into storage and record it. Raises RegistryError for an unusable file."""
    from detector.ml.checkpoint import CheckpointError, read_checkpoint

    path = Path(path)
    if not path.is_file():
        raise RegistryError("model_file_missing", gettext("There is no checkpoint file at %(path)s.") % {"path": path}, 404)
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as exc:
        raise RegistryError("model_file_unusable", str(exc)) from None
    sha256 = _sha256(path)
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


_verified: dict[str, Path] = {}
_verify_lock = threading.Lock()


def checkpoint_local_path(version: ModelVersion) -> Path:
    """A local copy of the version's file whose sha256 matches the registry.

    Raises RegistryError when the stored file is missing or its bytes do not match.
    """
    cache = Path(settings.AIORNOT_MODEL_CACHE_DIR)
    local = cache / f"{version.sha256}.pt"
    with _verify_lock:
        if _verified.get(version.sha256) == local and local.is_file():
            return local
        if local.is_file() and _sha256(local) == version.sha256:
            _verified[version.sha256] = local
            return local
        if not default_storage.exists(version.file):
            raise RegistryError(
                "model_file_missing",
                gettext(
                    "The file of model %(version)s (%(file)s) is missing from storage. Restore it, or roll "
                    "back to another version."
                ) % {"version": version.version, "file": version.file},
                409,
            )
        cache.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=cache, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out, default_storage.open(version.file, "rb") as stored:
                shutil.copyfileobj(stored, out)
            actual = _sha256(partial)
            if actual != version.sha256:
                raise RegistryError(
                    "model_sha256_mismatch",
                    gettext(
                        "The file of model %(version)s does not match the registry: sha256 %(actual)s... "
                        "instead of %(expected)s.... It was changed or corrupted; it will not be loaded."
                    ) % {"version": version.version, "actual": actual[:12], "expected": version.sha256[:12]},
                    409,
                )
            os.replace(partial, local)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        _verified[version.sha256] = local
        return local


# --- Promotion guard, promotion and rollback ----------------------------------------------------


def promotion_refusals(candidate: ModelVersion, active: ModelVersion | None) -> list[str]:
    """Why the candidate may not replace the active model (empty list: it may)."""
    reasons = []
    evaluation = candidate.holdout_evaluation or {}
    cand, act = evaluation.get("candidate") or {}, evaluation.get("active") or {}
    if active is not None and evaluation.get("active_version") != active.version:
        reasons.append(
            f"It was compared with {evaluation.get('active_version') or 'no model'}, but {active.version} is active "
            "now: retrain to compare it on the same hold-out."
        )
        return reasons
    minimum = settings.AIORNOT_PROMOTION_MIN_HOLDOUT_PER_CLASS
    if (cand.get("human") or 0) < minimum or (cand.get("ai") or 0) < minimum:
        reasons.append(
            f"The hold-out has {cand.get('human') or 0} human-labelled and {cand.get('ai') or 0} AI-labelled images; "
            f"the guard needs at least {minimum} of each to compare models."
        )
        return reasons
    if cand.get("roc_auc") is None or (act and act.get("roc_auc") is None):
        reasons.append("ROC AUC is undefined on the hold-out.")
        return reasons
    if act and cand["roc_auc"] < act["roc_auc"]:
        reasons.append(
            f"Its ROC AUC on the hold-out, {cand['roc_auc']:.4f}, is worse than the active model's {act['roc_auc']:.4f}."
        )
    cap = settings.AIORNOT_PROMOTION_MAX_FPR
    if cand.get("fpr") is None or cand["fpr"] > cap:
        reasons.append(
            f"It calls {cand.get('false_positives')} of {cand.get('human')} human-labelled hold-out images likely AI "
            f"({100 * (cand.get('fpr') or 0):.2f}%), above the {100 * cap:.2f}% cap."
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
    reasons = promotion_refusals(candidate, active_model_version())
    if reasons:
        _event(candidate, "promotion_refused", actor=actor, reasons=reasons)
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


# --- Reviewer labels: the frozen split and the export ------------------------------------------


def labelled_cases():
    """Decided cases whose final label is ai or human (unsure is not a label)."""
    return ReviewCase.objects.filter(status=ReviewCase.Status.DECIDED, label__in=["ai", "human"])


def label_splits_freeze(fraction: float | None = None) -> dict:
    """Assign every labelled case that has no side yet: the newest `fraction` (by label time)
    to the hold-out, the rest to training. Assigned cases never move."""
    fraction = settings.AIORNOT_HOLDOUT_FRACTION if fraction is None else float(fraction)
    if not 0 <= fraction < 1:
        raise RegistryError("bad_fraction", gettext("The hold-out fraction must be in [0, 1), got %(fraction)s.") % {"fraction": fraction})
    with transaction.atomic():
        new = list(labelled_cases().filter(split__isnull=True).order_by("labelled_at", "id").values_list("id", "label"))
        by_label: dict[str, list[int]] = {}
        for case_id, label in new:
            by_label.setdefault(label, []).append(case_id)
        holdout = set()
        for ids in by_label.values():  # newest of each label, so the hold-out keeps both classes
            count = int(round(len(ids) * fraction))
            holdout.update(ids[len(ids) - count :] if count else [])
        LabelSplit.objects.bulk_create(
            [LabelSplit(case_id=case_id, split="holdout" if case_id in holdout else "train") for case_id, _ in new]
        )
    return {"train": len(new) - len(holdout), "holdout": len(holdout)}


@dataclass
class ExportResult:
    out: Path
    counts: dict = field(default_factory=dict)  # label -> images
    origins: dict = field(default_factory=dict)  # origin -> images
    sha256: set = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _export_rows(split: str | None, include_confident_unreviewed: bool):
    cases = labelled_cases().select_related("asset", "first_submission", "first_submission__collection")
    if split is not None:
        cases = cases.filter(split__split=split)
    for case in cases.order_by("labelled_at", "id"):
        yield case.asset, case.label, "reviewer", case, case.first_submission
    if include_confident_unreviewed:
        held_out = set(LabelSplit.objects.filter(split="holdout").values_list("case__asset_id", flat=True))
        labelled = set(labelled_cases().values_list("asset_id", flat=True))
        seen = set()
        scored = Submission.objects.filter(status=Submission.Status.SCORED).select_related("asset", "collection")
        for submission in scored.order_by("created_at", "id"):
            asset_id = submission.asset_id
            if asset_id in labelled or asset_id in held_out or asset_id in seen or submission.p_ai is None:
                continue
            if submission.p_ai >= SELF_TRAINING_AI_AT_LEAST:
                label = "ai"
            elif submission.p_ai <= SELF_TRAINING_HUMAN_AT_MOST:
                label = "human"
            else:
                continue
            seen.add(asset_id)
            yield submission.asset, label, "model_score", None, submission


def labels_export(
    out, *, split: str | None = None, include_confident_unreviewed: bool = False, allow_one_class: bool = False,
    exclude_sha256: set | None = None,
) -> ExportResult:
    """Write reviewer labels as a dataset folder (reviewed/real|ai/<sha256>.<ext> + MANIFEST.csv).

    `split` limits the export to the frozen "train" or "holdout" side. Confidently scored,
    unreviewed images are added only when asked (self-training: see docs/retraining.md).
    Raises RegistryError when there is nothing to export, or one class only (unless allowed).
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RegistryError("export_folder_not_empty", gettext("%(folder)s exists and is not an empty folder; choose a new one.") % {"folder": out})
    rows = []
    exclude = exclude_sha256 or set()
    for asset, label, origin, case, submission in _export_rows(split, include_confident_unreviewed):
        if asset.sha256 in exclude:
            continue
        rows.append((asset, label, origin, case, submission))
    counts = {"human": sum(1 for r in rows if r[1] == "human"), "ai": sum(1 for r in rows if r[1] == "ai")}
    if not rows:
        raise RegistryError(
            "no_labels",
            gettext("There are no reviewer labels to export in the %(split)s split.") % {"split": split}
            if split
            else gettext("There are no reviewer labels to export."),
        )
    if not allow_one_class and (counts["human"] == 0 or counts["ai"] == 0):
        only = gettext("AI") if counts["ai"] else gettext("human")
        raise RegistryError(
            "one_class",
            gettext(
                "Every exported label is %(only)s (%(n)s images): a detector cannot learn from "
                "one class. Label images of both kinds, or train with base data that holds the other class."
            ) % {"only": only, "n": counts["ai"] or counts["human"]},
        )
    result = ExportResult(out=out, counts=counts)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "MANIFEST.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        for asset, label, origin, case, submission in rows:
            folder = ("reviewed" if origin == "reviewer" else "self_training") + ("/ai" if label == "ai" else "/real")
            rel = f"{folder}/{asset.sha256}.{asset.extension}"
            (out / folder).mkdir(parents=True, exist_ok=True)
            with asset.file.open("rb") as source, open(out / rel, "wb") as target:
                shutil.copyfileobj(source, target)
            writer.writerow([
                rel, "ai" if label == "ai" else "real", origin, case.pk if case else "",
                submission.pk if submission else "", submission.created_at.isoformat() if submission else "",
                case.labelled_at.isoformat() if case and case.labelled_at else "",
                submission.collection.name if submission and submission.collection_id else "",
                submission.source if submission else "", submission.source_url if submission else "",
                asset.sha256, "reviewer label" if origin == "reviewer" else "model score (unreviewed)",
            ])
            result.origins[origin] = result.origins.get(origin, 0) + 1
            result.sha256.add(asset.sha256)
    return result


# --- Retraining -------------------------------------------------------------------------------


def _holdout_summary(report: dict) -> dict:
    head = report["headline"]
    point = head["operating_points"]["likely_ai"]
    return {
        "images": head["images"],
        "human": head["real"],
        "ai": head["ai"],
        "roc_auc": head["roc_auc"],
        "fpr": point["fpr"],
        "false_positives": point["confusion_matrix"]["fp"],
        "tpr": point["tpr"],
        "threshold": point["threshold"],
        "ece": report["calibration"]["ece"],
    }


def holdout_export(out) -> ExportResult:
    """The frozen hold-out of reviewer labels as a dataset folder."""
    try:
        return labels_export(out, split="holdout", allow_one_class=True)
    except RegistryError as exc:
        if exc.code != "no_labels":
            raise
        raise RegistryError(
            "holdout_empty",
            gettext("No reviewer label is in the hold-out yet, so a candidate could not be judged: label more images first."),
        ) from None


def candidate_evaluate_and_register(
    path, *, active: ModelVersion, holdout: ExportResult | None = None, actor=None, note: str = "", extra=None
) -> ModelVersion:
    """Score the candidate file and the active model on the same frozen hold-out and register
    the candidate with both sets of figures (what the promotion guard compares)."""
    from detector.ml.datasets import DatasetError
    from detector.ml.evaluation import EvaluationError, evaluate_detector
    from detector.ml.inference import load_detector

    with tempfile.TemporaryDirectory(prefix="aiornot-holdout-") as work:
        if holdout is None:
            holdout = holdout_export(Path(work) / "holdout")
        try:
            reports = {}
            for name, checkpoint in (("candidate", Path(path)), ("active", checkpoint_local_path(active))):
                detector = load_detector(checkpoint)
                reports[name] = evaluate_detector(
                    detector, [holdout.out], robustness=False, container_check=False, log=lambda m: None
                ).report
        except (DatasetError, EvaluationError) as exc:
            raise RegistryError("evaluation_failed", gettext("The hold-out evaluation failed: %(error)s") % {"error": exc}) from None
        evaluation = {
            "active_version": active.version,
            "holdout_images": holdout.total,
            "holdout_counts": holdout.counts,
            **(extra or {}),
            "candidate": _holdout_summary(reports["candidate"]),
            "active": _holdout_summary(reports["active"]),
        }
        return model_register(path=path, parent=active, actor=actor, holdout_evaluation=evaluation, note=note)


def retrain(
    *, actor=None, epochs: int = 2, max_per_source: int | None = 300, base_data=None, max_minutes: float | None = None,
    batch_size: int = 16, seed: int = 0, holdout_fraction: float | None = None, log=print, progress=None,
) -> ModelVersion:
    """Train a candidate from the active model on the base data plus the training-side reviewer
    labels, evaluate it and the active model on the frozen hold-out, and register it.

    A probe model (the default: frozen backbone + linear head) keeps its recipe: its head is
    refitted with reviewer labels weighted AIORNOT_RETRAIN_LABEL_WEIGHT times a base image, and
    its thresholds are chosen again out of source. Any other model is fine-tuned from its weights.

    Never trains on a hold-out image (checked by sha256 before training). Raises RegistryError
    with a clear message for anything that stops it.
    """
    from detector.ml.datasets import DatasetError
    from detector.ml.training import TrainingConfigError, train_detector

    def step(done: int, message: str):
        log(message)
        if progress:
            progress(done, message)

    from detector.ml.checkpoint import read_checkpoint

    active = builtin_model_ensure(actor)
    active_path = checkpoint_local_path(active)
    preprocessing = read_checkpoint(active_path).preprocessing
    split_counts = label_splits_freeze(holdout_fraction)
    step(1, f"labels frozen: {split_counts['train']} new to training, {split_counts['holdout']} new to the hold-out")
    base = [Path(p) for p in (base_data if base_data is not None else settings.AIORNOT_BASE_TRAINING_DATA)]
    for folder in base:
        if not folder.is_dir():
            raise RegistryError("base_data_missing", gettext("The base training data folder %(folder)s does not exist.") % {"folder": folder})
    with tempfile.TemporaryDirectory(prefix="aiornot-retrain-") as work:
        work = Path(work)
        holdout = holdout_export(work / "holdout")
        try:
            training = labels_export(
                work / "labels", split="train", allow_one_class=True, exclude_sha256=holdout.sha256
            )
            data_dirs = [*base, training.out]
        except RegistryError as exc:
            if exc.code != "no_labels" or not base:
                raise
            training, data_dirs = None, list(base)
        leaked = holdout.sha256 & (training.sha256 if training else set())
        if leaked:  # cannot happen by construction; refuse loudly if it ever does
            raise RegistryError("holdout_leak", gettext("%(n)s hold-out images are in the training export.") % {"n": len(leaked)})
        step(2, f"training data: {', '.join(str(d) for d in data_dirs)}; hold-out {holdout.counts}")
        candidate_path = work / "candidate.pt"
        parent_args = read_checkpoint(active_path).training_args or {}
        if parent_args.get("method") == "probe":
            result = _retrain_probe(data_dirs, candidate_path, parent_args, active, max_per_source, seed, log)
            note = (f"Head refitted (frozen backbone) with {active.version}'s recipe on {len(data_dirs)} folder(s); "
                    f"reviewer labels weigh {settings.AIORNOT_RETRAIN_LABEL_WEIGHT:g}x a base image.")
        else:
            try:
                result = train_detector(
                    data_dirs=data_dirs, output=candidate_path, arch=active.arch, init_from=active_path, epochs=epochs,
                    input_size=int(preprocessing["input_size"]), max_tiles=int(preprocessing.get("max_tiles", 5)),
                    batch_size=batch_size, seed=seed, max_per_source=max_per_source, max_minutes=max_minutes,
                    patience=max(1, epochs), progress=False, log=log,
                )
            except (DatasetError, TrainingConfigError) as exc:
                raise RegistryError("training_failed", gettext("Training could not run: %(error)s") % {"error": exc}) from None
            note = f"Fine-tuned from {active.version} on {len(data_dirs)} folder(s), {epochs} epoch(s)."
        step(3, f"trained {result.model_version}; evaluating both models on the hold-out")
        candidate = candidate_evaluate_and_register(
            candidate_path, active=active, holdout=holdout, actor=actor,
            note=note,
            extra={
                "training_label_images": training.total if training else 0,
                "base_data": [str(b) for b in base],
                "leak_check": f"0 of {holdout.total} hold-out images in the training data (sha256)",
            },
        )
    step(4, f"registered candidate {candidate.version}")
    return candidate


REVIEWER_LABEL_SOURCES = ("reviewed", "self_training")  # the first folders of a labels export


def _retrain_probe(data_dirs, output, parent_args: dict, active: ModelVersion, max_per_source, seed, log):
    """Refit a probe model's head on the base data plus reviewer labels, the parent's recipe, labels weighted up.

    Its thresholds are chosen again on out-of-source scores, where the reviewer labels are one source:
    the head that scores them never saw them.
    """
    from detector.ml.datasets import DatasetError
    from detector.ml.out_of_source import train_probe_detector
    from detector.ml.probe import ProbeError

    weight = float(settings.AIORNOT_RETRAIN_LABEL_WEIGHT)
    try:
        return train_probe_detector(
            [str(d) for d in data_dirs], output, folds=int(parent_args.get("folds") or 5),
            max_per_source=max_per_source, seed=seed, cache_dir=settings.AIORNOT_FEATURE_CACHE_DIR,
            train_variants=tuple(parent_args.get("train_variants") or ("original", "wild", "jpeg75_half")),
            l2=float(parent_args.get("l2") or 0.1), input_size=int(parent_args.get("input_size") or 224),
            max_tiles=int(parent_args.get("max_tiles") or 5), exclude_sources=tuple(parent_args.get("not_trained_on") or ()),
            source_boost={source: weight for source in REVIEWER_LABEL_SOURCES}, parent_version=active.version, log=log,
        )
    except (DatasetError, ProbeError) as exc:
        raise RegistryError(
            "training_failed",
            gettext("Training could not run: %(error)s. A probe model's head is refitted on the base training data "
                    "(AIORNOT_BASE_TRAINING_DATA) plus the labels; give it base data from several sources.") % {"error": exc},
        ) from None


# --- Background jobs --------------------------------------------------------------------------


def job_enqueue(job: Job) -> bool:
    """Hand the job to a Celery worker; if the broker is down it stays queued (and says so)."""
    from .tasks import run_job

    if settings.AIORNOT_JOBS_IN_THREAD:
        threading.Thread(target=_job_run_in_thread, args=(job.pk,), name=f"aiornot-job-{job.pk}", daemon=True).start()
        return True
    try:
        run_job.delay(job.pk)
        return True
    except Exception as exc:
        logger.warning("Could not enqueue job %s: %s", job.pk, exc)
        Job.objects.filter(pk=job.pk).update(message=f"Waiting: the task queue could not be reached ({exc}).")
        return False


def _job_run_in_thread(job_id: int) -> None:
    from django.db import close_old_connections

    try:
        job_run(job_id)
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


# --- Scheduled candidates -----------------------------------------------------------------------


def labels_since_last_candidate() -> tuple[int, object]:
    """How many training-side reviewer labels arrived since the last candidate, and since when.

    "Since" is the later of the newest registered version and the newest scheduled retrain job
    (one that failed is not retried on every tick: it waits for another batch of labels). Labels
    already frozen into the hold-out are never trained on, so they do not count.
    """
    marks = [
        ModelVersion.objects.order_by("-created_at").values_list("created_at", flat=True).first(),
        Job.objects.filter(kind=Job.Kind.RETRAIN, trigger=Job.Trigger.SCHEDULED)
        .order_by("-created_at").values_list("created_at", flat=True).first(),
    ]
    since = max((m for m in marks if m is not None), default=None)
    labels = labelled_cases().exclude(split__split=LabelSplit.Split.HOLDOUT)
    if since is not None:
        labels = labels.filter(labelled_at__gt=since)
    return labels.count(), since


def _active_is_probe() -> bool:
    from detector.ml.checkpoint import CheckpointError, read_checkpoint

    active = active_model_version()
    if active is None:
        return False
    try:
        return (read_checkpoint(checkpoint_local_path(active)).training_args or {}).get("method") == "probe"
    except (CheckpointError, RegistryError):
        return False


def retrain_when_labels_arrive() -> Job | None:
    """Queue a retrain once AIORNOT_RETRAIN_AFTER_LABELS new training-side labels have arrived.

    Run by celery beat (with a broker) or by the embedded mode's sweeper. The candidate it trains
    is only registered: an admin promotes it, through the guard. Returns the job, or None.
    """
    needed = int(settings.AIORNOT_RETRAIN_AFTER_LABELS or 0)
    if needed <= 0:
        return None
    if Job.objects.filter(kind=Job.Kind.RETRAIN, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).exists():
        return None
    count, since = labels_since_last_candidate()
    if count < needed:
        return None
    if not settings.AIORNOT_BASE_TRAINING_DATA and _active_is_probe():
        return None  # a probe's head needs base data from several sources: do not queue a job bound to fail
    try:
        return retrain_job_start(
            actor=None, trigger=Job.Trigger.SCHEDULED,
            message=f"Scheduled: {count} new reviewer label(s) since {since:%Y-%m-%d %H:%M} (threshold {needed})."
            if since else f"Scheduled: {count} reviewer label(s) (threshold {needed}).",
        )
    except RegistryError:
        return None  # another retrain was queued in between


def _job_progress(job_id: int, done: int, message: str = "", total: int | None = None) -> None:
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
    return Job.objects.filter(pk=job_id).values_list("total", flat=True).first() or 0


def open_cases_rescore(*, job_id: int | None = None) -> dict:
    """Rescore, with the active model, every submission of every case not yet decided."""
    from detector.services import submissions_rescore

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
