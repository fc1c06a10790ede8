"""Every change to submissions and their scores goes through these functions.

Views, the API, Celery tasks and management commands call them; each writes its
audit event in the same transaction as the change it records.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from .intake import ImageRejected, ValidatedImage, image_open_for_scoring, image_validate
from .models import Collection, Evidence, ImageAsset, Submission, SubmissionEvent, asset_upload_path
from .scoring_queue import in_process_scoring
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
    "image_metadata_too_large": 422,
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
        raise SubmissionRejected("collection_not_found", gettext("There is no collection %(id)s.") % {"id": repr(collection_id)})
    if not collection.is_open:
        raise SubmissionRejected("collection_closed", gettext("The collection \"%(name)s\" is closed to new submissions.") % {"name": collection.name})
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
    url = (url or "").strip() if isinstance(url, str) or url is None else url  # fetch_url refuses non-text
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
        name = (entry.name or "") if kind == "upload" else str(entry)[:2048]
        try:
            if kind == "upload":
                submission = submission_create(
                    user=user, data=entry.read(), source=Submission.Source.UPLOAD, channel=channel,
                    original_filename=name, note=note, enqueue=False, collection=collection,
                )
            else:
                submission = submission_create_from_url(
                    user=user, url=entry, channel=channel, note=note, enqueue=False, collection=collection
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
    """One task scores the whole list in batches; a broker outage leaves them pending.

    In the embedded mode's web process the ids go to the in-process scoring thread instead
    (a full queue leaves them pending for its sweeper).
    """
    from .tasks import score_submissions

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
    from .tasks import score_submission

    if in_process_scoring.is_running():
        return in_process_scoring.offer([submission_id])
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

    from .evidence_services import asset_layers_ensure

    assets = list({s.asset_id: s.asset for s in todo}.values())
    evidence_by_asset = {}
    # A chunk at a time, so that a large batch never holds more than one chunk of decoded images.
    for start in range(0, len(assets), SCORING_BATCH_SIZE):
        chunk = assets[start : start + SCORING_BATCH_SIZE]
        opened: dict = {}
        evidence_by_asset.update(_classifier_evidence(detector, chunk, opened=opened))
        asset_layers_ensure(chunk, embedder=detector, opened=opened)
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


def _classifier_evidence(detector, assets, opened: dict | None = None) -> dict[int, tuple[Evidence | Exception, bool]]:
    """Evidence rows for the detector's exact weights: reused when stored, else computed in batches.

    `opened` (optional) receives {asset id: (bytes, decoded image)} for the files it had to read,
    so the other evidence layers need not read and decode them again.
    """
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
        locked.reused_earlier_result = reused
        _reading_record(locked, detector, evidence, result, record)
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
            _detector_load()
        except Exception:
            logger.exception("Loading the model at start failed; the scoring thread tries again")
    return in_process_scoring.start(
        score_many=lambda ids: submission_score_many(submission_ids=ids),
        sweep=embedded_sweep,
        max_jobs=settings.AIORNOT_SCORING_QUEUE_SIZE,
        sweep_every_seconds=settings.AIORNOT_SWEEP_PENDING_EVERY_SECONDS,
        warm_up=_detector_load,
    )


def embedded_sweep() -> int:
    """The embedded mode's periodic work (what celery beat does with a broker): re-queue pending
    submissions, then queue a candidate retrain if enough new labels have arrived."""
    from registry.services import retrain_when_labels_arrive  # here: registry depends on detector, not back

    requeued = submissions_sweep_pending(older_than_seconds=settings.AIORNOT_SWEEP_PENDING_AFTER_SECONDS)
    try:
        retrain_when_labels_arrive()
    except Exception:
        logger.exception("Checking for a scheduled retrain failed; the next sweep tries again")
    return requeued


def _detector_load():
    from .scoring import active_detector

    return active_detector()


def submission_requeue(*, submission: Submission, actor=None) -> bool:
    """Put a pending or failed submission back on the scoring queue."""
    if submission.status == Submission.Status.SCORED:
        return False
    with transaction.atomic():
        Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.PENDING, failure_reason="")
        _event(submission, "requeued", actor=actor)
        transaction.on_commit(lambda: submission_enqueue_scoring(submission_id=submission.pk))
    return True


# --- Zip archives: many images in one upload -----------------------------------------------------
#
# An archive is checked in two steps. First its directory, without inflating anything: entry count,
# declared sizes and compression ratios, so a zip bomb is refused whole and nothing is stored. Then
# each entry is inflated in memory, one at a time and never past the per-file limit, and submitted
# like an uploaded file. Entry names are never used as paths: only their last part becomes the
# submission's original_filename (stored files are named by sha256).

ARCHIVE_REJECTION_STATUS = {
    "archive_not_zip": 415,
    "archive_corrupt": 422,
    "archive_empty": 400,
    "archive_too_many_files": 413,
    "archive_too_large": 413,
    "archive_bomb": 413,
    "archive_entry_encrypted": 415,
    "archive_entry_unsupported_compression": 415,
    "archive_entry_corrupt": 422,
}
# Entries this small are never refused for their compression ratio (tiny files compress oddly).
ARCHIVE_RATIO_GRACE_BYTES = 1024 * 1024
# Folders and operating-system clutter that are skipped without a word in the per-entry results.
_ARCHIVE_CLUTTER = {"__macosx", "thumbs.db", "desktop.ini"}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


class ArchiveRejected(SubmissionRejected):
    """The whole archive is refused (nothing from it was stored); ``http_status`` is 4xx."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)
        self.http_status = ARCHIVE_REJECTION_STATUS.get(code, 400)


def _archive_entry_error(code: str, message: str) -> SubmissionRejected:
    error = SubmissionRejected(code, message)
    error.http_status = ARCHIVE_REJECTION_STATUS.get(code, error.http_status)
    return error


@dataclass(frozen=True)
class UploadItem(BatchItem):
    """A batch item that may come from an archive; ``already_submitted`` marks a repeat upload."""

    archive: str = ""
    already_submitted: bool = False


@dataclass(frozen=True)
class ArchivePlan:
    """An archive whose directory passed the checks, ready to be read entry by entry."""

    name: str
    reader: object  # the open zipfile.ZipFile
    entries: tuple  # zipfile.ZipInfo of the files to read, in archive order
    ignored: tuple[str, ...]  # entry names skipped as folders' clutter (hidden files, __MACOSX)


def is_zip_archive(upload) -> bool:
    """The uploaded file starts like a zip archive (its name does not matter)."""
    position = upload.tell() if hasattr(upload, "tell") else 0
    head = upload.read(4)
    upload.seek(position)
    return head in _ZIP_MAGIC


def archive_entry_display_name(raw: str) -> str:
    """The entry's path as people should see it: no control characters, bounded length."""
    cleaned = "".join(ch for ch in raw.replace("\\", "/") if ch.isprintable())
    return cleaned[:500]


def archive_entry_basename(raw: str) -> str:
    """The only part of an entry name that is kept: the last path component, as a label."""
    parts = [p for p in archive_entry_display_name(raw).split("/") if p not in ("", ".", "..")]
    return parts[-1][:255] if parts else ""


def _archive_entry_is_clutter(raw: str) -> bool:
    parts = [p for p in raw.replace("\\", "/").split("/") if p]
    if not parts:
        return True
    for part in parts:
        if part.lower() in _ARCHIVE_CLUTTER:
            return True
        if part.startswith(".") and part not in (".", ".."):
            return True  # .DS_Store, ._picture.jpg (AppleDouble), .git/...
    return False


def _archive_directory_size(handle) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end record, read before zipfile parses the
    directory, so an archive declaring millions of entries is refused cheaply. None when absent."""
    import struct

    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    tail_length = min(size, 22 + 0xFFFF)
    handle.seek(size - tail_length)
    tail = handle.read(tail_length)
    handle.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    _, _, _, entries, directory_bytes, _, _ = struct.unpack("<4HLLH", tail[at + 4 : at + 22])
    return entries, directory_bytes


def archive_inspect(
    upload,
    *,
    max_files: int | None = None,
    max_total_bytes: int | None = None,
    max_entry_bytes: int | None = None,
    max_ratio: float | None = None,
) -> ArchivePlan:
    """Open an uploaded zip and check its directory against the limits without inflating anything.

    Raises ArchiveRejected: archive_not_zip (415), archive_corrupt (422), archive_empty (400),
    archive_too_many_files, archive_too_large, archive_bomb (413).
    """
    import zipfile

    max_files = settings.AIORNOT_ZIP_MAX_FILES if max_files is None else max_files
    max_total_bytes = settings.AIORNOT_ZIP_MAX_TOTAL_BYTES if max_total_bytes is None else max_total_bytes
    max_entry_bytes = settings.AIORNOT_MAX_UPLOAD_BYTES if max_entry_bytes is None else max_entry_bytes
    max_ratio = settings.AIORNOT_ZIP_MAX_RATIO if max_ratio is None else max_ratio
    name = archive_entry_basename(getattr(upload, "name", "") or "") or "archive.zip"
    handle = getattr(upload, "file", upload)
    handle.seek(0)
    if handle.read(4) not in _ZIP_MAGIC:
        raise ArchiveRejected("archive_not_zip", gettext("%(name)s is not a zip archive.") % {"name": name})
    # Folders, hidden files and __MACOSX metadata do not count towards max_files, but the whole
    # directory may hold at most three entries per allowed file (at ~512 bytes each).
    max_entries = max_files * 3 + 16
    declared = _archive_directory_size(handle)
    if declared is None:
        raise ArchiveRejected("archive_corrupt", gettext("%(name)s is damaged: its zip directory is missing.") % {"name": name})
    entries, directory_bytes = declared
    if (entries != 0xFFFF and entries > max_entries) or (
        directory_bytes != 0xFFFFFFFF and directory_bytes > max_entries * 512
    ):
        raise ArchiveRejected(
            "archive_too_many_files",
            gettext("%(name)s holds too many entries; an archive may hold at most %(max)s files.") % {"name": name, "max": max_files},
        )
    try:
        archive = zipfile.ZipFile(handle)
        infos = archive.infolist()
    except Exception as exc:  # zipfile raises many types for hostile directories
        raise ArchiveRejected("archive_corrupt", gettext("%(name)s is damaged and cannot be read as a zip archive.") % {"name": name}) from exc
    if len(infos) > max_entries:
        raise ArchiveRejected(
            "archive_too_many_files", gettext("%(name)s holds %(n)s entries; the limit is %(max)s files.") % {"name": name, "n": len(infos), "max": max_files}
        )
    files, ignored = [], []
    for info in infos:
        if info.is_dir():
            continue
        if _archive_entry_is_clutter(info.filename):
            ignored.append(archive_entry_display_name(info.filename))
            continue
        files.append(info)
    if not files:
        raise ArchiveRejected("archive_empty", gettext("%(name)s holds no files (folders and hidden files are skipped).") % {"name": name})
    if len(files) > max_files:
        raise ArchiveRejected(
            "archive_too_many_files", gettext("%(name)s holds %(n)s files; the limit is %(max)s per archive.") % {"name": name, "n": len(files), "max": max_files}
        )
    total = 0
    for info in files:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > ARCHIVE_RATIO_GRACE_BYTES and ratio > max_ratio:
            raise ArchiveRejected(
                "archive_bomb",
                gettext(
                    "%(name)s was refused as a possible zip bomb: the entry "
                    "\"%(entry)s\" would expand %(ratio)s times "
                    "(to %(size)s MB); the limit is %(max_ratio)s times."
                ) % {
                    "name": name, "entry": archive_entry_display_name(info.filename), "ratio": f"{ratio:.0f}",
                    "size": f"{info.file_size / 1e6:.1f}", "max_ratio": f"{max_ratio:g}",
                },
            )
        total += min(info.file_size, max_entry_bytes + 1)  # larger entries are skipped unread
    if total > max_total_bytes:
        raise ArchiveRejected(
            "archive_too_large",
            gettext("%(name)s would expand to %(size)s MB; the limit is %(limit)s MB per archive.") % {
                "name": name, "size": f"{total / 1e6:.0f}", "limit": f"{max_total_bytes / 1e6:.0f}",
            },
        )
    return ArchivePlan(name=name, reader=archive, entries=tuple(files), ignored=tuple(ignored))


def archive_entry_read(plan: ArchivePlan, info, *, max_entry_bytes: int | None = None) -> bytes:
    """Inflate one entry in memory, never past the per-file limit. Raises SubmissionRejected."""
    import zipfile

    max_entry_bytes = settings.AIORNOT_MAX_UPLOAD_BYTES if max_entry_bytes is None else max_entry_bytes
    if info.flag_bits & 0x1:
        raise _archive_entry_error("archive_entry_encrypted", gettext("The file is encrypted; send it without a password."))
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _archive_entry_error(
            "archive_entry_unsupported_compression",
            gettext("The file uses a compression method we do not read; use ordinary (deflate) zip compression."),
        )
    if info.file_size > max_entry_bytes:
        raise _archive_entry_error(
            "file_too_large", gettext("The file is %(size)s MB; the limit is %(limit)s MB.") % {
                "size": f"{info.file_size / 1e6:.1f}", "limit": f"{max_entry_bytes / 1e6:.1f}",
            }
        )
    chunks, size = [], 0
    try:
        with plan.reader.open(info) as handle:  # zipfile stops at the declared size and checks the CRC
            while True:
                chunk = handle.read(1024 * 1024)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_entry_bytes:
                    raise _archive_entry_error(
                        "file_too_large", gettext("The file is larger than the limit of %(limit)s MB.") % {"limit": f"{max_entry_bytes / 1e6:.1f}"}
                    )
                chunks.append(chunk)
    except SubmissionRejected:
        raise
    except Exception as exc:  # bad CRC, truncated stream, lying headers
        raise _archive_entry_error(
            "archive_entry_corrupt", gettext("The file is damaged inside the archive and cannot be read.")
        ) from exc
    return b"".join(chunks)


def _submission_create_once(
    *, user, data: bytes, name: str, channel: str, note: str, collection: Collection | None, skip_repeats: bool
) -> tuple[Submission, bool]:
    """submission_create without enqueueing; with ``skip_repeats`` the same person sending the same
    bytes to the same collection again gets their earlier submission back (a retried upload)."""
    if skip_repeats and collection is not None:
        earlier = (
            Submission.objects.filter(
                collection=collection, submitted_by=user, asset__sha256=hashlib.sha256(data).hexdigest()
            )
            .order_by("id")
            .first()
        )
        if earlier is not None:
            return earlier, True
    submission = submission_create(
        user=user, data=data, source=Submission.Source.UPLOAD, channel=channel,
        original_filename=name, note=note, enqueue=False, collection=collection,
    )
    return submission, False


def submissions_create_from_archive(
    *,
    user,
    plan: ArchivePlan,
    channel: str = Submission.Channel.API,
    note: str = "",
    collection: Collection | None = None,
    first_index: int = 0,
    skip_repeats: bool = False,
    enqueue: bool = True,
) -> list[UploadItem]:
    """Submit every file of an inspected archive on its own: images are stored and (with
    ``enqueue``) scored together; anything else is refused with its reason, per entry."""
    items: list[UploadItem] = []
    try:
        for offset, info in enumerate(plan.entries):
            shown = archive_entry_display_name(info.filename)
            common = {"index": first_index + offset, "name": shown, "archive": plan.name}
            try:
                data = archive_entry_read(plan, info)
                submission, repeat = _submission_create_once(
                    user=user, data=data, name=archive_entry_basename(info.filename) or f"entry-{offset + 1}",
                    channel=channel, note=note, collection=collection, skip_repeats=skip_repeats,
                )
            except SubmissionRejected as exc:
                items.append(UploadItem(error=exc, **common))
            else:
                items.append(UploadItem(submission=submission, already_submitted=repeat, **common))
    finally:
        plan.reader.close()
    if enqueue:
        _enqueue_new(items)
    return items


def _enqueue_new(items) -> None:
    new = [i.submission.pk for i in items if i.submission is not None and not getattr(i, "already_submitted", False)]
    if new:
        transaction.on_commit(lambda: submission_enqueue_scoring_many(submission_ids=new))


def collection_upload(
    *,
    user,
    collection: Collection,
    uploads,
    note: str = "",
    channel: str = Submission.Channel.WEB,
) -> tuple[list[UploadItem], list[str]]:
    """Files sent into a collection from the web page: images and zip archives, each file (and
    each archive entry) accepted or refused on its own, then scored together.

    Sending the same bytes to the same collection again returns the earlier submission instead
    of a second one, so a retried or resumed upload never duplicates entries. Returns the items
    and the archive entries skipped as clutter. Raises SubmissionRejected when the collection is
    closed (nothing stored).
    """
    collection = collection_for_submission(collection.pk)
    items: list[UploadItem] = []
    ignored: list[str] = []
    for upload in uploads:
        name = os.path.basename((upload.name or "").replace("\\", "/"))
        if is_zip_archive(upload):
            try:
                plan = archive_inspect(upload)
            except ArchiveRejected as exc:
                items.append(UploadItem(index=len(items), name=name, archive=name, error=exc))
                continue
            items += submissions_create_from_archive(
                user=user, plan=plan, channel=channel, note=note, collection=collection,
                first_index=len(items), skip_repeats=True, enqueue=False,
            )
            ignored += [f"{plan.name}: {entry}" for entry in plan.ignored]
            continue
        try:
            submission, repeat = _submission_create_once(
                user=user, data=upload.read(), name=name, channel=channel, note=note,
                collection=collection, skip_repeats=True,
            )
        except SubmissionRejected as exc:
            items.append(UploadItem(index=len(items), name=name, error=exc))
        else:
            items.append(UploadItem(index=len(items), name=name, submission=submission, already_submitted=repeat))
    _enqueue_new(items)
    return items, ignored


THUMBNAIL_MAX_SIDE = 160


def asset_thumbnail(*, asset: ImageAsset, max_side: int = THUMBNAIL_MAX_SIDE) -> str:
    """Storage name of a small JPEG of the image for report tables, made once and kept
    (thumbnails/<sha256>-<side>.jpg). '' when the stored image cannot be read."""
    import io

    from PIL import Image, ImageOps

    from .intake import SUPPORTED_FORMATS

    name = f"thumbnails/{asset.sha256[:2]}/{asset.sha256}-{max_side}.jpg"
    if default_storage.exists(name):
        return name
    try:
        with asset.file.open("rb") as handle:
            image = Image.open(io.BytesIO(handle.read()), formats=SUPPORTED_FORMATS)
            image.thumbnail((max_side, max_side))  # JPEGs are decoded at a reduced scale
            image = ImageOps.exif_transpose(image)
        if image.mode not in ("RGB", "L"):
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, (255, 255, 255))
            image.paste(rgba, mask=rgba.getchannel("A"))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
    except Exception:
        logger.exception("Thumbnail failed for asset %s", asset.pk)
        return ""
    if default_storage.exists(name):  # made by a concurrent request meanwhile
        return name
    return default_storage.save(name, ContentFile(buffer.getvalue()))
