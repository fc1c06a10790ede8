"""Collection writes: creating and editing collections, and files sent into one.

Files come one by one or in zip archives (read by ``archives``); each file and each archive entry
is accepted or refused on its own, and the accepted ones are scored together. An admin's edits are
recorded in the admin's history of the object.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import transaction
from django.utils.translation import gettext

from .archives import (
    ArchivePlan,
    ArchiveRejected,
    archive_entry_basename,
    archive_entry_display_name,
    archive_entry_read,
    archive_inspect,
    is_zip_archive,
)
from .models import Collection, Submission
from .services import BatchItem, SubmissionRejected, collection_for_submission, submission_create
from .tasks import submission_enqueue_scoring_many

COLLECTION_FIELDS = ("name", "policy", "description", "deadline", "second_opinion", "review_every_entry", "is_open")


def collection_create(*, user, name: str, policy: str, description: str = "", deadline: datetime | None = None,
                      second_opinion: bool | None = None, review_every_entry: bool | None = None,
                      is_open: bool = True) -> Collection:
    """A new collection, recorded in the admin's history of the object."""
    with transaction.atomic():
        collection = Collection.objects.create(
            name=name, policy=policy, description=description, deadline=deadline,
            second_opinion=second_opinion, review_every_entry=review_every_entry, is_open=is_open,
            created_by=user,
        )
        LogEntry.objects.log_actions(
            user_id=user.pk, queryset=[collection], action_flag=ADDITION,
            change_message=[{"added": {}}], single_object=True,
        )
    return collection


def collection_update(*, collection: Collection, user, **changes) -> Collection:
    """Change some of name, policy, description, deadline, second_opinion, review_every_entry, is_open (closing a
    collection is ``is_open=False``). Only real changes are saved and logged."""
    unknown = set(changes) - set(COLLECTION_FIELDS)
    if unknown:
        raise TypeError(f"Not a collection field: {', '.join(sorted(unknown))}")
    changed = [name for name, value in changes.items() if getattr(collection, name) != value]
    if not changed:
        return collection
    with transaction.atomic():
        locked = Collection.objects.select_for_update().get(pk=collection.pk)
        for name in changed:
            setattr(locked, name, changes[name])
        locked.save(update_fields=changed)
        labels = [str(Collection._meta.get_field(name).verbose_name).capitalize() for name in changed]
        LogEntry.objects.log_actions(
            user_id=user.pk, queryset=[locked], action_flag=CHANGE,
            change_message=[{"changed": {"fields": labels}}], single_object=True,
        )
    return locked


# --- Files sent into a collection, and zip archives -----------------------------------------------


@dataclass(frozen=True)
class UploadItem(BatchItem):
    """A batch item that may come from an archive; ``already_submitted`` marks a repeat upload."""

    archive: str = ""
    already_submitted: bool = False


def archive_open(upload) -> ArchivePlan:
    """Inspect an uploaded zip against the configured limits, without inflating anything.

    Raises SubmissionRejected for the whole archive (nothing stored): archive_not_zip (415),
    archive_corrupt (422), archive_empty (400), archive_too_many_files, archive_too_large,
    archive_bomb (413).
    """
    try:
        return archive_inspect(
            upload,
            max_files=settings.AIORNOT_ZIP_MAX_FILES,
            max_total_bytes=settings.AIORNOT_ZIP_MAX_TOTAL_BYTES,
            max_entry_bytes=settings.AIORNOT_MAX_UPLOAD_BYTES,
            max_ratio=settings.AIORNOT_ZIP_MAX_RATIO,
        )
    except ArchiveRejected as exc:
        raise SubmissionRejected(exc.code, exc.translated(gettext)) from exc


def _archive_entry_data(plan: ArchivePlan, info) -> bytes:
    """One entry's bytes within the per-file limit, or SubmissionRejected for that entry."""
    try:
        return archive_entry_read(plan, info, max_entry_bytes=settings.AIORNOT_MAX_UPLOAD_BYTES)
    except ArchiveRejected as exc:
        raise SubmissionRejected(exc.code, exc.translated(gettext)) from exc


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
                data = _archive_entry_data(plan, info)
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
                plan = archive_open(upload)
            except SubmissionRejected as exc:
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
