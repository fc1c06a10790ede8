"""Retraining: reviewer labels become the next candidate model.

Freeze each new label to the training side or the hold-out (forever), export labels as a dataset
folder, train a candidate from the active model, judge it and the active model on the same
hold-out, and register it; and queue that retrain once enough new labels have arrived. A
candidate is only registered here: promotion, through the guard, is in `services`.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from detector.models import Submission

from .checkpoints import checkpoint_local_path
from .errors import RegistryError
from .models import Job, LabelSplit, ModelVersion
from .selectors import active_model_version, labelled_cases, labels_since_last_candidate
from .services import builtin_model_ensure, model_register, retrain_job_start

EXPORT_COLUMNS = [
    "path", "label", "origin", "case_id", "submission_id", "submitted_at", "labelled_at",
    "collection", "submission_source", "source_url", "sha256", "generator", "kind",
]
# The kind of image a human label is, read off its collection's policy: an art contest's human-made
# entries are artworks, so a retrain counts them under the 1% rule for artworks (and the promotion
# guard judges them apart), not as photos. Elsewhere the kind is left empty (read as a photo).
HUMAN_KIND_BY_POLICY = {"art_contest": "art", "newsroom": "photo"}
SELF_TRAINING_AI_AT_LEAST = 0.8
SELF_TRAINING_HUMAN_AT_MOST = 0.2


# --- Reviewer labels: the frozen split and the export ------------------------------------------


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
    """What a labels export wrote: its folder, images per label and per origin, and their sha256."""

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
                _label_kind(label, submission),
            ])
            result.origins[origin] = result.origins.get(origin, 0) + 1
            result.sha256.add(asset.sha256)
    return result


# --- Retraining -------------------------------------------------------------------------------


def _label_kind(label: str, submission) -> str:
    if label == "ai" or submission is None or not submission.collection_id:
        return ""
    return HUMAN_KIND_BY_POLICY.get(submission.collection.policy, "")


def _holdout_art_paths(holdout: ExportResult) -> set:
    """Resolved paths of the hold-out's human-labelled artworks (kind "art" in its manifest)."""
    with open(holdout.out / "MANIFEST.csv", newline="", encoding="utf-8") as handle:
        return {str((holdout.out / row["path"]).resolve()) for row in csv.DictReader(handle)
                if row.get("label") == "real" and row.get("kind") == "art"}


def _holdout_summary(report: dict, images: list, art_paths: set) -> dict:
    head = report["headline"]
    point = head["operating_points"]["likely_ai"]
    art = [row for row in images if str(Path(row["path"]).resolve()) in art_paths]
    art_false_positives = sum(1 for row in art if row["verdict"] == "likely_ai")
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
        "artworks": len(art),
        "art_false_positives": art_false_positives,
        "art_fpr": (art_false_positives / len(art)) if art else None,
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
    from detector.ml.datasets import DatasetError  # torch stays out of the web process
    from detector.ml.evaluation import EvaluationError, evaluate_detector
    from detector.ml.inference import load_detector

    with tempfile.TemporaryDirectory(prefix="aiornot-holdout-") as work:
        if holdout is None:
            holdout = holdout_export(Path(work) / "holdout")
        try:
            results = {}
            for name, checkpoint in (("candidate", Path(path)), ("active", checkpoint_local_path(active))):
                detector = load_detector(checkpoint)
                results[name] = evaluate_detector(
                    detector, [holdout.out], robustness=False, container_check=False, log=lambda m: None
                )
        except (DatasetError, EvaluationError) as exc:
            raise RegistryError("evaluation_failed", gettext("The hold-out evaluation failed: %(error)s") % {"error": exc}) from None
        art_paths = _holdout_art_paths(holdout)
        evaluation = {
            "active_version": active.version,
            "holdout_images": holdout.total,
            "holdout_counts": holdout.counts,
            **(extra or {}),
            "candidate": _holdout_summary(results["candidate"].report, results["candidate"].images, art_paths),
            "active": _holdout_summary(results["active"].report, results["active"].images, art_paths),
        }
        return model_register(path=path, parent=active, actor=actor, holdout_evaluation=evaluation, note=note)


def retrain(
    *, actor=None, epochs: int = 2, max_per_source: int | None = 300, base_data=None, max_minutes: float | None = None,
    batch_size: int = 16, seed: int = 0, holdout_fraction: float | None = None, log=print, progress=None,
) -> ModelVersion:
    """Train a candidate from the active model on the base data plus the training-side reviewer
    labels, evaluate it and the active model on the frozen hold-out, and register it.

    A probe model (the default: frozen backbone + linear head) keeps its recipe: its head is
    refitted with reviewer labels weighted AIORNOT_RETRAIN_LABEL_WEIGHT times a base image (the base
    data's human art AIORNOT_RETRAIN_HUMAN_ART_WEIGHT times), its NPR members (if any) but one train
    AIORNOT_RETRAIN_NPR_EPOCHS more epochs on the same weighted data, and its thresholds are chosen
    again out of source. Any other model is fine-tuned from its weights.

    Never trains on a hold-out image (checked by sha256 before training). Raises RegistryError
    with a clear message for anything that stops it.
    """
    from detector.ml.checkpoint import read_checkpoint  # torch stays out of the web process
    from detector.ml.datasets import DatasetError
    from detector.ml.training import TrainingConfigError, train_detector

    def step(done: int, message: str):
        log(message)
        if progress:
            progress(done, message)

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
            result = _retrain_probe(data_dirs, candidate_path, parent_args, active, active_path, max_per_source, seed, log)
            note = (f"Head refitted (frozen backbone) with {active.version}'s recipe on {len(data_dirs)} folder(s); "
                    f"reviewer labels weigh {settings.AIORNOT_RETRAIN_LABEL_WEIGHT:g}x a base image, "
                    f"the base data's human art {settings.AIORNOT_RETRAIN_HUMAN_ART_WEIGHT:g}x.")
            tuned = (result.metrics.get("npr_part") or {}).get("fine_tuned")
            if tuned:
                note += (f" NPR members but one trained {tuned['epochs']} more epoch(s) on the labels with replay; "
                         f"member {result.metrics['npr_part']['labels_held_out_by']} never saw them and scores them.")
            elif parent_args.get("npr"):
                note += " NPR members kept as they were."
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


def _retrain_probe(data_dirs, output, parent_args: dict, active: ModelVersion, active_path, max_per_source, seed, log):
    """Refit a probe model's head on the base data plus reviewer labels, the parent's recipe, labels weighted up.

    Its thresholds are chosen again on out-of-source scores, where the reviewer labels are one source:
    the head that scores them never saw them. A model with NPR members (the default) keeps them: the
    mix of the two parts is fitted again, on the members' stored out-of-source logits of the images
    they were trained with and on their scores of the labels, which they never saw. With
    AIORNOT_RETRAIN_NPR_EPOCHS, all members but one train further on the labels with replay of the
    base data; each still scores only the sources it never trained on (npr_training.fine_tuned_members).
    """
    from detector.ml.datasets import DatasetError  # torch stays out of the web process
    from detector.ml.out_of_source import train_probe_detector
    from detector.ml.probe import ProbeError

    weight = float(settings.AIORNOT_RETRAIN_LABEL_WEIGHT)
    try:
        return train_probe_detector(
            [str(d) for d in data_dirs], output, folds=int(parent_args.get("folds") or 5),
            max_per_source=max_per_source, seed=seed, cache_dir=settings.AIORNOT_FEATURE_CACHE_DIR,
            train_variants=tuple(parent_args.get("train_variants") or ("original", "wild", "jpeg75_half")),
            l2=float(parent_args.get("l2") or 0.1), consistency=float(parent_args.get("consistency") or 0.0),
            input_size=int(parent_args.get("input_size") or 224),
            max_tiles=int(parent_args.get("max_tiles") or 5), whole_view=parent_args.get("whole_view") is True,
            whole_view_mirrored=parent_args.get("whole_view_mirrored") is True,
            channel_correlations=parent_args.get("channel_correlations") is True,
            exclude_sources=tuple(parent_args.get("not_trained_on") or ()),
            source_boost={source: weight for source in REVIEWER_LABEL_SOURCES},
            human_art_boost=float(settings.AIORNOT_RETRAIN_HUMAN_ART_WEIGHT), parent_version=active.version,
            arch=active.arch, keep_npr_from=active_path if parent_args.get("npr") else None,
            npr_fine_tune_epochs=max(0, int(settings.AIORNOT_RETRAIN_NPR_EPOCHS or 0)),
            npr_fine_tune_lr=float(settings.AIORNOT_RETRAIN_NPR_LR),
            npr_fine_tune_boost={source: float(settings.AIORNOT_RETRAIN_NPR_LABEL_WEIGHT) for source in REVIEWER_LABEL_SOURCES},
            log=log,
        )
    except (DatasetError, ProbeError) as exc:
        raise RegistryError(
            "training_failed",
            gettext("Training could not run: %(error)s. A probe model's head is refitted on the base training data "
                    "(AIORNOT_BASE_TRAINING_DATA) plus the labels; give it base data from several sources.") % {"error": exc},
        ) from None


# --- Scheduled candidates -----------------------------------------------------------------------


def _active_is_probe() -> bool:
    from detector.ml.checkpoint import CheckpointError, read_checkpoint  # torch stays out of the web process

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
