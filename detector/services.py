"""Submission writes: every new submission, and putting one back on the scoring queue.

Views, the API, Celery tasks and management commands call these; each writes its audit
event in the same transaction as the change it records, and queues scoring on commit
(``tasks``). Scoring itself is ``scoring``; collection writes are ``collections``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from aiornot_site.errors import ServiceError
from aiornot_site.url_checks import UrlFetchError

from .audit import submission_event
from .intake import ImageRejected, image_validate
from .models import Collection, Submission
from .stored_files import asset_store
from .tasks import submission_enqueue_scoring, submission_enqueue_scoring_many
from .url_fetch import fetch_url

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
    # Zip archives (``archives``): the whole archive, then one entry of it.
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


class SubmissionRejected(ServiceError):
    """Input we refuse; nothing was stored. ``http_status`` is always 4xx (by ``code``)."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message, REJECTION_STATUS.get(code, 400))


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
        raise SubmissionRejected(exc.code, exc.translated(gettext)) from exc

    asset = asset_store(validated, data)
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
        submission_event(
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


def submission_requeue(*, submission: Submission, actor=None) -> bool:
    """Put a pending or failed submission back on the scoring queue."""
    if submission.status == Submission.Status.SCORED:
        return False
    with transaction.atomic():
        Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.PENDING, failure_reason="")
        submission_event(submission, "requeued", actor=actor)
        transaction.on_commit(lambda: submission_enqueue_scoring(submission_id=submission.pk))
    return True
