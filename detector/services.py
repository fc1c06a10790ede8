"""Every change to submissions and their scores goes through these functions.

Views, the API, Celery tasks and management commands call them; each writes its
audit event in the same transaction as the change it records.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from .intake import ImageRejected, ValidatedImage, image_open_for_scoring, image_validate
from .models import Collection, Evidence, ImageAsset, Submission, SubmissionEvent, asset_upload_path
from .url_fetch import UrlFetchError, fetch_url

logger = logging.getLogger(__name__)

# HTTP status for each rejection code; every one is a 4xx by design.
REJECTION_STATUS = {
    "empty_file": 400,
    "file_too_large": 413,
    "image_too_many_pixels": 413,
    "unsupported_format": 415,
    "not_an_image": 415,
    "image_corrupt": 422,
    "url_too_large": 413,
    "url_not_image": 415,
    "collection_not_found": 404,
    "collection_closed": 409,
}


class SubmissionRejected(Exception):
    """Input we refuse; nothing was stored. ``http_status`` is always 4xx."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = REJECTION_STATUS.get(code, 400)


def collection_for_submission(collection_id) -> Collection | None:
    """The open collection a new submission joins (None for none), or SubmissionRejected."""
    if collection_id in (None, ""):
        return None
    try:
        collection = Collection.objects.filter(pk=int(collection_id)).first()
    except (TypeError, ValueError):
        collection = None
    if collection is None:
        raise SubmissionRejected("collection_not_found", f"There is no collection {collection_id!r}.")
    if not collection.is_open:
        raise SubmissionRejected("collection_closed", f"The collection \"{collection.name}\" is closed to new submissions.")
    return collection


def _event(submission: Submission, action: str, actor=None, **data) -> SubmissionEvent:
    return SubmissionEvent.objects.create(submission=submission, action=action, actor=actor, data=data)


def _asset_store(validated: ValidatedImage, data: bytes) -> ImageAsset:
    """Store the bytes once per sha256 and return the asset row (reused if it exists)."""
    existing = ImageAsset.objects.filter(sha256=validated.sha256).first()
    if existing is not None:
        if not default_storage.exists(existing.file.name):
            # The row outlived its file (restored database, lost volume): put the bytes back.
            logger.warning("Re-storing missing file for asset %s", existing.pk)
            existing.file.save(os.path.basename(existing.file.name), ContentFile(data), save=True)
        return existing
    asset = ImageAsset(
        sha256=validated.sha256,
        format=validated.format,
        width=validated.width,
        height=validated.height,
        size_bytes=validated.size_bytes,
    )
    name = asset_upload_path(asset, "")
    if default_storage.exists(name) and default_storage.size(name) == validated.size_bytes:
        asset.file.name = name  # left by an interrupted earlier attempt; same sha256, same bytes
    else:
        asset.file.name = default_storage.save(name, ContentFile(data))
    try:
        with transaction.atomic():
            asset.save()
    except IntegrityError:
        # A concurrent request stored the same bytes first; use its row.
        return ImageAsset.objects.get(sha256=validated.sha256)
    return asset


def submission_create(
    *,
    user,
    data: bytes,
    source: str = Submission.Source.UPLOAD,
    channel: str = Submission.Channel.WEB,
    original_filename: str = "",
    source_url: str = "",
    note: str = "",
    enqueue: bool = True,
    collection: Collection | None = None,
) -> Submission:
    """Validate and store an image, record the submission, and queue it for scoring.

    Raises SubmissionRejected (nothing stored) for anything that is not an acceptable image.
    """
    try:
        validated = image_validate(
            data, max_bytes=settings.AIORNOT_MAX_UPLOAD_BYTES, max_pixels=settings.AIORNOT_MAX_IMAGE_PIXELS
        )
    except ImageRejected as exc:
        raise SubmissionRejected(exc.code, exc.message) from exc

    asset = _asset_store(validated, data)
    with transaction.atomic():
        submission = Submission.objects.create(
            asset=asset,
            submitted_by=user,
            source=source,
            channel=channel,
            source_url=source_url[:2048],
            original_filename=os.path.basename(original_filename or "")[:255],
            note=note[:5000],
            collection=collection,
        )
        _event(
            submission,
            "submitted",
            actor=user,
            sha256=asset.sha256,
            source=source,
            channel=channel,
            source_url=submission.source_url,
            filename=submission.original_filename,
            collection_id=collection.pk if collection else None,
        )
        if enqueue:
            transaction.on_commit(lambda: submission_enqueue_scoring(submission_id=submission.pk))
    return submission


def submission_create_from_url(
    *,
    user,
    url: str,
    channel: str = Submission.Channel.WEB,
    note: str = "",
    enqueue: bool = True,
    collection: Collection | None = None,
) -> Submission:
    """Fetch an image from a public web address (SSRF-safe) and submit it."""
    url = (url or "").strip()
    try:
        fetched = fetch_url(
            url,
            max_bytes=settings.AIORNOT_MAX_UPLOAD_BYTES,
            timeout=settings.AIORNOT_URL_FETCH_TIMEOUT,
            max_redirects=settings.AIORNOT_URL_FETCH_MAX_REDIRECTS,
            allowed_networks=settings.AIORNOT_URL_FETCH_ALLOWED_NETWORKS,
        )
    except UrlFetchError as exc:
        raise SubmissionRejected(exc.code, exc.message) from exc
    return submission_create(
        user=user,
        data=fetched.content,
        source=Submission.Source.URL,
        channel=channel,
        original_filename=fetched.filename,
        source_url=url,
        note=note,
        enqueue=enqueue,
        collection=collection,
    )


def submission_submit(
    *,
    user,
    upload=None,
    url: str = "",
    channel: str = Submission.Channel.WEB,
    note: str = "",
    collection: Collection | None = None,
) -> Submission:
    """Submit either an uploaded file (a Django UploadedFile) or a web link."""
    if upload is not None:
        return submission_create(
            user=user,
            data=upload.read(),
            source=Submission.Source.UPLOAD,
            channel=channel,
            original_filename=upload.name or "",
            note=note,
            collection=collection,
        )
    return submission_create_from_url(user=user, url=url, channel=channel, note=note, collection=collection)


@dataclass(frozen=True)
class BatchItem:
    """One entry of a batch: a stored submission or the reason it was refused."""

    index: int
    name: str
    submission: Submission | None = None
    error: SubmissionRejected | None = None


def submissions_create_batch(
    *,
    user,
    uploads=(),
    urls=(),
    channel: str = Submission.Channel.API,
    note: str = "",
    collection: Collection | None = None,
) -> list[BatchItem]:
    """Submit many files and links at once; each is validated on its own, so one bad
    entry never blocks the rest. Accepted ones are scored together in one task."""
    items: list[BatchItem] = []
    entries = [("upload", u) for u in uploads] + [("url", u) for u in urls]
    for index, (kind, entry) in enumerate(entries):
        name = (entry.name or "") if kind == "upload" else str(entry)
        try:
            if kind == "upload":
                submission = submission_create(
                    user=user, data=entry.read(), source=Submission.Source.UPLOAD, channel=channel,
                    original_filename=name, note=note, enqueue=False, collection=collection,
                )
            else:
                submission = submission_create_from_url(
                    user=user, url=name, channel=channel, note=note, enqueue=False, collection=collection
                )
        except SubmissionRejected as exc:
            items.append(BatchItem(index=index, name=name, error=exc))
        else:
            items.append(BatchItem(index=index, name=name, submission=submission))
    accepted = [item.submission.pk for item in items if item.submission is not None]
    if accepted:
        transaction.on_commit(lambda: submission_enqueue_scoring_many(submission_ids=accepted))
    return items


def submission_enqueue_scoring_many(*, submission_ids: list[int]) -> bool:
    """One task scores the whole list in batches; a broker outage leaves them pending."""
    from .tasks import score_submissions

    try:
        score_submissions.delay(list(submission_ids))
    except Exception:
        logger.exception("Could not queue scoring of %d submissions; they stay pending", len(submission_ids))
        return False
    return True


def submission_enqueue_scoring(*, submission_id: int) -> bool:
    """Send the scoring task; a broker outage leaves the submission pending, never lost."""
    from .tasks import score_submission

    try:
        score_submission.delay(submission_id)
    except Exception:  # kombu raises many connection error types
        logger.exception("Could not queue scoring of submission %s; it stays pending", submission_id)
        return False
    return True


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
    from .scoring import active_detector

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

    assets = {s.asset_id: s.asset for s in todo}.values()
    evidence_by_asset = _classifier_evidence(detector, assets)
    from .evidence_services import asset_layers_ensure

    asset_layers_ensure(assets, embedder=detector)
    done = {}
    for submission in todo:
        evidence, reused = evidence_by_asset[submission.asset_id]
        if isinstance(evidence, Exception):
            done[submission.pk] = _submission_fail(
                submission, f"The image could not be scored ({type(evidence).__name__}: {evidence})."
            )
        else:
            done[submission.pk] = _submission_apply_evidence(submission, detector, evidence, reused)
    return [done.get(s.pk, s) for s in submissions]


def _classifier_evidence(detector, assets) -> dict[int, tuple[Evidence | Exception, bool]]:
    """Evidence rows for the detector's exact weights: reused when stored, else computed in batches."""
    from .scoring import producer_version

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
                    images.append(image_open_for_scoring(handle.read()))
                chunk.append(asset)
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
            raw["heatmap"] = _heatmap_store(detector, asset, image, version)
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
        from .ml.stability import DEFAULT_JPEG_QUALITY, DEFAULT_SCALE, perturbed_copy

        background = tuple(detector.preprocessing.alpha_background)
        batch += [perturbed_copy(image, background=background) for image in images]
    scores = detector.score_batch(batch)
    outputs = []
    for i, score in enumerate(scores[: len(images)]):
        raw = {"p_ai": score.p_ai, "logit": score.logit, "tiles": score.tiles, "arch": detector.arch}
        if settings.AIORNOT_STABILITY_CHECK:
            perturbed = scores[len(images) + i]
            raw["perturbed"] = {
                "p_ai": perturbed.p_ai,
                "jpeg_quality": DEFAULT_JPEG_QUALITY,
                "scale": DEFAULT_SCALE,
            }
        outputs.append(raw)
    return outputs


def heatmap_storage_name(asset: ImageAsset, producer: str) -> str:
    digest = hashlib.sha256(producer.encode()).hexdigest()[:12]
    return f"heatmaps/{asset.sha256[:2]}/{asset.sha256}-{digest}.png"


def _heatmap_store(detector, asset: ImageAsset, image, producer: str) -> str:
    """Render and store the Grad-CAM overlay; '' when disabled or when it fails (never fatal)."""
    if not settings.AIORNOT_HEATMAPS:
        return ""
    from .ml.explain import heatmap

    try:
        png = heatmap(detector, image).to_png_bytes(max_side=settings.AIORNOT_HEATMAP_MAX_SIDE)
    except Exception:
        logger.exception("Heatmap failed for asset %s", asset.pk)
        return ""
    name = heatmap_storage_name(asset, producer)
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(png))


def submission_fuse(submission: Submission, detector, evidence: Evidence):
    """Every layer's findings for this submission and the fusion rule's P(AI) and verdict."""
    from .evidence.fusion import ClassifierReading, fuse
    from .evidence_services import asset_layer_findings, known_image_findings
    from .models import ImageFingerprint
    from .scoring import thresholds_for

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
    from reviews.services import submission_route

    result, record = submission_fuse(submission, detector, evidence)
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        if locked.status == Submission.Status.SCORED:
            return locked
        locked.status = Submission.Status.SCORED
        locked.failure_reason = ""
        locked.scored_at = timezone.now()
        locked.p_ai = result.p_ai
        locked.verdict = result.verdict
        locked.model_version = detector.model_version
        locked.policy_version = result.policy_version
        locked.reused_earlier_result = reused
        locked.classifier_evidence = evidence
        locked.unstable_under_reencoding = result.unstable
        locked.fusion = record
        locked.save()
        _event(
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


def submissions_rescore(*, submission_ids: list[int], detector=None, on_progress=None) -> int:
    """Score already-scored submissions again with the active model (after a promotion or a
    rollback) and re-apply the fusion rule; returns how many changed model version.

    The earlier classifier evidence stays stored (it is keyed by producer version), so a
    rollback reuses it. One image failing never stops the others.
    """
    from reviews.services import case_model_reading_update

    if detector is None:
        from .scoring import active_detector

        detector = active_detector()
    from .evidence_services import asset_layers_ensure

    rescored = 0
    ids = list(submission_ids)
    for start in range(0, len(ids), SCORING_BATCH_SIZE):
        chunk = list(
            Submission.objects.select_related("asset", "collection")
            .filter(pk__in=ids[start : start + SCORING_BATCH_SIZE], status=Submission.Status.SCORED)
            .order_by("id")
        )
        assets = {s.asset_id: s.asset for s in chunk}.values()
        evidence_by_asset = _classifier_evidence(detector, assets)
        asset_layers_ensure(assets, embedder=detector)
        for submission in chunk:
            evidence, _ = evidence_by_asset[submission.asset_id]
            if isinstance(evidence, Exception):
                logger.error("Rescoring submission %s failed: %s", submission.pk, evidence)
                continue
            result, record = submission_fuse(submission, detector, evidence)
            with transaction.atomic():
                locked = Submission.objects.select_for_update().get(pk=submission.pk)
                before = {"p_ai": locked.p_ai, "verdict": locked.verdict, "model_version": locked.model_version}
                locked.p_ai = result.p_ai
                locked.verdict = result.verdict
                locked.model_version = detector.model_version
                locked.policy_version = result.policy_version
                locked.classifier_evidence = evidence
                locked.unstable_under_reencoding = result.unstable
                locked.fusion = record
                locked.save()
                _event(locked, "rescored", before=before, p_ai=result.p_ai, verdict=result.verdict,
                       model_version=detector.model_version)
                case_model_reading_update(submission=locked)
            rescored += before["model_version"] != detector.model_version
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
        _event(locked, "scoring_failed", reason=reason)
    return locked


def submission_requeue(*, submission: Submission, actor=None) -> bool:
    """Put a pending or failed submission back on the scoring queue."""
    if submission.status == Submission.Status.SCORED:
        return False
    with transaction.atomic():
        Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.PENDING, failure_reason="")
        _event(submission, "requeued", actor=actor)
        transaction.on_commit(lambda: submission_enqueue_scoring(submission_id=submission.pk))
    return True
