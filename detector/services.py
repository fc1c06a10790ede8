"""Every change to submissions and their scores goes through these functions.

Views, the API, Celery tasks and management commands call them; each writes its
audit event in the same transaction as the change it records.
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from .intake import ImageRejected, ValidatedImage, image_open_for_scoring, image_validate
from .models import Evidence, ImageAsset, Submission, SubmissionEvent, asset_upload_path
from .policy import policy_apply
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
}


class SubmissionRejected(Exception):
    """Input we refuse; nothing was stored. ``http_status`` is always 4xx."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = REJECTION_STATUS.get(code, 400)


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
        )
        transaction.on_commit(lambda: submission_enqueue_scoring(submission_id=submission.pk))
    return submission


def submission_create_from_url(
    *, user, url: str, channel: str = Submission.Channel.WEB, note: str = ""
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
    )


def submission_submit(
    *, user, upload=None, url: str = "", channel: str = Submission.Channel.WEB, note: str = ""
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
        )
    return submission_create_from_url(user=user, url=url, channel=channel, note=note)


def submission_enqueue_scoring(*, submission_id: int) -> bool:
    """Send the scoring task; a broker outage leaves the submission pending, never lost."""
    from .tasks import score_submission

    try:
        score_submission.delay(submission_id)
    except Exception:  # kombu raises many connection error types
        logger.exception("Could not queue scoring of submission %s; it stays pending", submission_id)
        return False
    return True


def submission_score(*, submission_id: int) -> Submission:
    """Score a submission with the active detector and route it. Idempotent.

    Earlier evidence for the same image and the same weights is reused, so identical
    bytes are never scored twice by one model.
    """
    from .scoring import active_detector, producer_version, thresholds_for

    submission = Submission.objects.select_related("asset").get(pk=submission_id)
    if submission.status == Submission.Status.SCORED:
        return submission
    asset = submission.asset
    try:
        detector = active_detector()
    except Exception as exc:
        logger.exception("Detector could not be loaded")
        return _submission_fail(
            submission,
            f"The detector model could not be loaded ({exc}). The image is stored; an administrator "
            "can install a model and re-run scoring with `manage.py score_pending`.",
        )
    version = producer_version(detector)
    evidence = Evidence.objects.filter(asset=asset, kind=Evidence.Kind.CLASSIFIER, producer_version=version).first()
    reused = evidence is not None
    if evidence is None:
        try:
            with asset.file.open("rb") as handle:
                data = handle.read()
            image = image_open_for_scoring(data)
            score = detector.score(image)
        except Exception as exc:
            logger.exception("Scoring failed for submission %s", submission_id)
            return _submission_fail(submission, f"The image could not be scored ({type(exc).__name__}: {exc}).")
        evidence, _ = Evidence.objects.get_or_create(
            asset=asset,
            kind=Evidence.Kind.CLASSIFIER,
            producer_version=version,
            defaults={
                "p_ai": score.p_ai,
                "raw": {"logit": score.logit, "tiles": score.tiles, "arch": detector.arch},
            },
        )
    result = policy_apply(classifier_p_ai=evidence.p_ai, thresholds=thresholds_for(detector))

    from reviews.services import submission_route

    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission_id)
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
        locked.save()
        _event(
            locked,
            "scored",
            p_ai=result.p_ai,
            verdict=result.verdict,
            model_version=detector.model_version,
            producer_version=version,
            policy_version=result.policy_version,
            reused_earlier_result=reused,
        )
        submission_route(submission=locked)
    return locked


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
