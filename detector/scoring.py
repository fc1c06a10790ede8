"""How an image is scored: from the active model to the stored, fused and routed reading.

The active registry version (or the configured checkpoint) gives the detector and its
thresholds; classifier evidence is reused per exact weights or computed in batches, with a
heatmap beside it; the evidence layers are fused by ``evidence.fusion`` and the reading is
stored with its audit event and routed to people (``reviews.services``).

torch is imported lazily, only by the process that actually scores (worker or, in
embedded mode, the web process), and the model is loaded once per process.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry.checkpoints import checkpoint_local_path
from registry.selectors import active_model_version
from reviews.services import case_model_reading_update, submission_route

from .audit import submission_event
from .evidence.fusion import ClassifierReading, fuse
from .evidence_services import asset_layer_findings, asset_layers_ensure
from .intake import image_open_for_scoring
from .known_images import known_image_findings
from .models import Evidence, ImageAsset, ImageFingerprint, Submission
from .policy import Thresholds
from .stored_files import heatmap_save

logger = logging.getLogger(__name__)

DEFAULT_LIKELY_AI = 0.8
DEFAULT_LIKELY_HUMAN = 0.2


_threads_set = False


def active_detector():
    """The detector of the active model version (or the configured checkpoint), loaded once per process."""
    global _threads_set
    from .ml.inference import load_detector, set_torch_threads  # torch stays out of the web process

    if not _threads_set and settings.AIORNOT_TORCH_THREADS > 0:
        set_torch_threads(settings.AIORNOT_TORCH_THREADS)
        _threads_set = True
    return load_detector(active_checkpoint_path(), optimize=settings.AIORNOT_DETECTOR_OPTIMIZE or "none")


def active_checkpoint_path() -> str:
    """The active registry version's verified local file, or the configured built-in checkpoint.

    Raises registry.errors.RegistryError when the active version's file is missing or its
    sha256 does not match the registry (scoring then fails with that reason; nothing is lost).
    """
    active = active_model_version()
    if active is None:
        return settings.AIORNOT_DETECTOR_CHECKPOINT
    return str(checkpoint_local_path(active))


def producer_version(detector) -> str:
    """Identifies exact weights: the readable version plus the checkpoint's hash."""
    return f"{detector.model_version}@{detector.checkpoint_sha256[:12]}"


def thresholds_for(detector, policy: str = "general") -> Thresholds:
    """The verdict thresholds for a collection policy.

    Settings override the thresholds the checkpoint was calibrated with. The art-contest
    policy raises likely_ai to at least AIORNOT_ART_CONTEST_MIN_LIKELY_AI, because there a
    false accusation falls on a named entrant; the newsroom policy lowers likely_human to at
    most AIORNOT_NEWSROOM_MAX_LIKELY_HUMAN, so fewer photos are cleared without an editor.
    """
    base = _base_thresholds(detector)
    if policy == "art_contest":
        floor = settings.AIORNOT_ART_CONTEST_MIN_LIKELY_AI
        likely_ai = max(base.likely_ai, float(floor)) if floor is not None else base.likely_ai
        return Thresholds(likely_ai=likely_ai, likely_human=min(base.likely_human, likely_ai / 2))
    if policy == "newsroom":
        ceiling = settings.AIORNOT_NEWSROOM_MAX_LIKELY_HUMAN
        likely_human = min(base.likely_human, float(ceiling)) if ceiling is not None else base.likely_human
        return Thresholds(likely_ai=base.likely_ai, likely_human=min(likely_human, base.likely_ai / 2))
    return base


def _base_thresholds(detector) -> Thresholds:
    suggested = getattr(detector, "thresholds", None) or {}
    likely_ai = settings.AIORNOT_LIKELY_AI_THRESHOLD
    likely_human = settings.AIORNOT_LIKELY_HUMAN_THRESHOLD
    return Thresholds(
        likely_ai=likely_ai if likely_ai is not None else float(suggested.get("likely_ai", DEFAULT_LIKELY_AI)),
        likely_human=(
            likely_human if likely_human is not None else float(suggested.get("likely_human", DEFAULT_LIKELY_HUMAN))
        ),
    )


SCORING_BATCH_SIZE = 16


def submission_score(*, submission_id: int) -> Submission:
    """Score one submission with the active detector and route it. Idempotent."""
    return submission_score_many(submission_ids=[submission_id])[0]


def submission_score_many(*, submission_ids: list[int]) -> list[Submission]:
    """Score submissions in batches with the active detector, then route each. Idempotent.

    Earlier evidence for the same image and the same weights is reused, so identical
    bytes are never scored twice by one model. One image failing fails only its own
    submissions.
    """
    submissions = list(Submission.objects.select_related("asset").filter(pk__in=submission_ids).order_by("id"))
    todo = [s for s in submissions if s.status != Submission.Status.SCORED]
    if not todo:
        return submissions
    try:
        detector = active_detector()
    except Exception as exc:
        logger.exception("Detector could not be loaded")
        reason = (
            f"The detector model could not be loaded ({exc}). The image is stored; an administrator "
            "can install a model and re-run scoring with `manage.py score_pending`."
        )
        return [_submission_fail(s, reason) if s in todo else s for s in submissions]

    assets = list({s.asset_id: s.asset for s in todo}.values())
    done = {}
    # A chunk at a time, so that a large batch never holds more than one chunk of decoded images.
    for start in range(0, len(assets), SCORING_BATCH_SIZE):
        chunk = assets[start : start + SCORING_BATCH_SIZE]
        opened: dict = {}
        evidence_by_asset = _classifier_evidence(detector, chunk, opened=opened)
        asset_layers_ensure(chunk, embedder=detector, opened=opened)
        for submission in todo:
            if submission.asset_id not in evidence_by_asset:
                continue
            evidence, reused = evidence_by_asset[submission.asset_id]
            if isinstance(evidence, Exception):
                done[submission.pk] = _submission_fail(
                    submission, f"The image could not be scored ({type(evidence).__name__}: {evidence})."
                )
            else:
                done[submission.pk] = _submission_apply_evidence(submission, detector, evidence, reused)
        # The verdict is stored (and shown) first; the heatmap, which costs more, follows.
        _heatmaps_draw(detector, evidence_by_asset, opened)
    return [done.get(s.pk, s) for s in submissions]


def _classifier_evidence(detector, assets, opened: dict | None = None) -> dict[int, tuple[Evidence | Exception, bool]]:
    """Evidence rows for the detector's exact weights: reused when stored, else computed in batches.

    `opened` (optional) receives {asset id: (bytes, decoded image)} for the files it had to read,
    so the other evidence layers need not read and decode them again.
    """
    version = producer_version(detector)
    assets = list(assets)
    stored = {
        e.asset_id: e
        for e in Evidence.objects.filter(
            asset__in=assets, kind=Evidence.Kind.CLASSIFIER, producer_version=version
        )
    }
    results: dict[int, tuple[Evidence | Exception, bool]] = {a.pk: (stored[a.pk], True) for a in assets if a.pk in stored}
    missing = [a for a in assets if a.pk not in stored]
    for start in range(0, len(missing), SCORING_BATCH_SIZE):
        chunk, images = [], []
        for asset in missing[start : start + SCORING_BATCH_SIZE]:
            try:
                with asset.file.open("rb") as handle:
                    data = handle.read()
                images.append(image_open_for_scoring(data))
                chunk.append(asset)
                if opened is not None:
                    opened[asset.pk] = (data, images[-1])
            except Exception as exc:
                logger.exception("Stored image %s could not be opened", asset.pk)
                results[asset.pk] = (exc, False)
        try:
            raws = _classifier_outputs(detector, images) if images else []
        except Exception as exc:
            logger.exception("Batch scoring failed")
            raws = [exc] * len(chunk)
        for asset, image, raw in zip(chunk, images, raws):
            if isinstance(raw, Exception):
                results[asset.pk] = (raw, False)
                continue
            evidence, _ = Evidence.objects.get_or_create(
                asset=asset,
                kind=Evidence.Kind.CLASSIFIER,
                producer_version=version,
                defaults={"p_ai": raw.pop("p_ai"), "raw": raw},
            )
            results[asset.pk] = (evidence, False)
    return results


def _classifier_outputs(detector, images) -> list[dict]:
    """Scores (and, when enabled, scores of a re-encoded copy) in one batched pass."""
    batch = list(images)
    if settings.AIORNOT_STABILITY_CHECK:
        from .ml.stability import DEFAULT_JPEG_QUALITY, DEFAULT_SCALE, perturbed_copy  # torch stays out of the web process

        background = tuple(detector.preprocessing.alpha_background)
        batch += [perturbed_copy(image, background=background) for image in images]
    scores = detector.score_batch(batch)
    outputs = []
    for i, score in enumerate(scores[: len(images)]):
        raw = {"p_ai": score.p_ai, "logit": score.logit, "tiles": score.tiles, "arch": detector.arch}
        if detector.preprocessing.whole_view:  # part of this score has no heatmap (selectors.heatmap_unmapped_parts)
            raw["whole_view"] = True
        if settings.AIORNOT_STABILITY_CHECK:
            perturbed = scores[len(images) + i]
            raw["perturbed"] = {
                "p_ai": perturbed.p_ai,
                "jpeg_quality": DEFAULT_JPEG_QUALITY,
                "scale": DEFAULT_SCALE,
            }
        outputs.append(raw)
    return outputs


def _heatmaps_draw(detector, evidence_by_asset: dict, opened: dict) -> None:
    """Draw and store the heatmap of every classifier result just computed (raw has no "heatmap"
    key yet: the result page says it is being drawn), after the readings are stored."""
    for asset_id, (evidence, reused) in evidence_by_asset.items():
        if reused or isinstance(evidence, Exception) or "heatmap" in (evidence.raw or {}):
            continue
        if asset_id not in opened:
            continue
        name = _heatmap_store(detector, evidence.asset, opened[asset_id][1], evidence.producer_version)
        with transaction.atomic():
            locked = Evidence.objects.select_for_update().get(pk=evidence.pk)
            locked.raw = {**(locked.raw or {}), "heatmap": name}
            locked.save(update_fields=["raw"])
        evidence.raw = locked.raw


def _heatmap_store(detector, asset: ImageAsset, image, producer: str) -> str:
    """Render and store the Grad-CAM overlay; '' when disabled or when it fails (never fatal)."""
    if not settings.AIORNOT_HEATMAPS:
        return ""
    from .ml.explain import heatmap  # torch stays out of the web process

    try:
        png = heatmap(detector, image).to_png_bytes(max_side=settings.AIORNOT_HEATMAP_MAX_SIDE)
    except Exception:
        logger.exception("Heatmap failed for asset %s", asset.pk)
        return ""
    return heatmap_save(asset, producer, png)


def submission_fuse(submission: Submission, detector, evidence: Evidence):
    """Every layer's findings for this submission and the fusion rule's P(AI) and verdict."""
    perturbed = (evidence.raw or {}).get("perturbed") or {}
    reading = ClassifierReading(
        p_ai=evidence.p_ai,
        p_ai_perturbed=perturbed.get("p_ai") if settings.AIORNOT_STABILITY_CHECK else None,
        width=submission.asset.width,
        height=submission.asset.height,
    )
    fingerprint = ImageFingerprint.objects.filter(asset_id=submission.asset_id).first()
    findings = asset_layer_findings(submission.asset) + known_image_findings(fingerprint)
    policy = submission.collection.policy if submission.collection_id else "general"
    thresholds = thresholds_for(detector, policy)
    result = fuse(classifier=reading, findings=findings, thresholds=thresholds)
    record = result.as_dict()
    record["findings"] = [f.as_dict() for f in findings]
    record["collection_policy"] = policy
    record["thresholds"] = {"likely_ai": thresholds.likely_ai, "likely_human": thresholds.likely_human}
    return result, record


def _submission_apply_evidence(submission: Submission, detector, evidence: Evidence, reused: bool) -> Submission:
    result, record = submission_fuse(submission, detector, evidence)
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        if locked.status == Submission.Status.SCORED:
            return locked
        locked.status = Submission.Status.SCORED
        locked.failure_reason = ""
        locked.scored_at = timezone.now()
        locked.reused_earlier_result = reused
        _reading_record(locked, detector, evidence, result, record)
        submission_event(
            locked,
            "scored",
            p_ai=result.p_ai,
            verdict=result.verdict,
            model_version=detector.model_version,
            producer_version=evidence.producer_version,
            policy_version=result.policy_version,
            unstable_under_reencoding=result.unstable,
            too_small_to_judge=result.too_small,
            classifier_p_ai=result.classifier_p_ai,
            evidence=[f"{f['layer']}:{f['signal']}:{f['direction']}" for f in record["findings"]],
            reused_earlier_result=reused,
        )
        submission_route(submission=locked)
    return locked


def _reading_record(submission: Submission, detector, evidence: Evidence, result, record: dict) -> None:
    """Store the model's reading (fused P(AI), verdict, versions, the evidence behind it) and save."""
    submission.p_ai = result.p_ai
    submission.verdict = result.verdict
    submission.model_version = detector.model_version
    submission.policy_version = result.policy_version
    submission.classifier_evidence = evidence
    submission.unstable_under_reencoding = result.unstable
    submission.fusion = record
    submission.save()


def submissions_rescore(*, submission_ids: list[int], detector=None, on_progress=None) -> int:
    """Score already-scored submissions again with the active model (after a promotion or a
    rollback) and re-apply the fusion rule; returns how many changed model version.

    The earlier classifier evidence stays stored (it is keyed by producer version), so a
    rollback reuses it. One image failing never stops the others.
    """
    if detector is None:
        detector = active_detector()
    rescored = 0
    ids = list(submission_ids)
    for start in range(0, len(ids), SCORING_BATCH_SIZE):
        chunk = list(
            Submission.objects.select_related("asset", "collection")
            .filter(pk__in=ids[start : start + SCORING_BATCH_SIZE], status=Submission.Status.SCORED)
            .order_by("id")
        )
        assets = {s.asset_id: s.asset for s in chunk}.values()
        opened: dict = {}
        evidence_by_asset = _classifier_evidence(detector, assets, opened=opened)
        asset_layers_ensure(assets, embedder=detector, opened=opened)
        for submission in chunk:
            evidence, _ = evidence_by_asset[submission.asset_id]
            if isinstance(evidence, Exception):
                logger.error("Rescoring submission %s failed: %s", submission.pk, evidence)
                continue
            result, record = submission_fuse(submission, detector, evidence)
            with transaction.atomic():
                locked = Submission.objects.select_for_update().get(pk=submission.pk)
                before = {"p_ai": locked.p_ai, "verdict": locked.verdict, "model_version": locked.model_version}
                _reading_record(locked, detector, evidence, result, record)
                submission_event(locked, "rescored", before=before, p_ai=result.p_ai, verdict=result.verdict,
                       model_version=detector.model_version)
                case_model_reading_update(submission=locked)
            rescored += before["model_version"] != detector.model_version
        _heatmaps_draw(detector, evidence_by_asset, opened)
        if on_progress:
            on_progress(min(len(ids), start + SCORING_BATCH_SIZE))
    return rescored


def _submission_fail(submission: Submission, reason: str) -> Submission:
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        if locked.status == Submission.Status.SCORED:
            return locked
        locked.status = Submission.Status.FAILED
        locked.failure_reason = reason
        locked.save(update_fields=["status", "failure_reason"])
        submission_event(locked, "scoring_failed", reason=reason)
    return locked


def detector_load():
    """Load the active detector now (the embedded mode warms it up before serving)."""
    return active_detector()
