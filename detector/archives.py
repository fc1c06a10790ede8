"""Zip archives: many images in one upload, read without trusting the archive.

An archive is checked in two steps. First its directory, without inflating anything: entry count,
declared sizes and compression ratios, so a zip bomb is refused whole and nothing is stored. Then
each entry is inflated in memory, one at a time and never past the per-file limit, and submitted
like an uploaded file. Entry names are never used as paths: only their last part becomes the
submission's original_filename (stored files are named by sha256).

Plain Python (no Django): limits are passed in, and messages are English, marked for translation
(``detector.collections`` shows them in the reader's language).
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass

from .refusals import Refusal, gettext_noop

# Entries this small are never refused for their compression ratio (tiny files compress oddly).
ARCHIVE_RATIO_GRACE_BYTES = 1024 * 1024
# Folders and operating-system clutter that are skipped without a word in the per-entry results.
_ARCHIVE_CLUTTER = {"__macosx", "thumbs.db", "desktop.ini"}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


class ArchiveRejected(Refusal):
    """The whole archive, or one entry of it, is refused; ``code`` says which (archive_*, file_too_large)."""


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
    upload, *, max_files: int, max_total_bytes: int, max_entry_bytes: int, max_ratio: float
) -> ArchivePlan:
    """Open an uploaded zip and check its directory against the limits without inflating anything.

    Raises ArchiveRejected: archive_not_zip, archive_corrupt, archive_empty,
    archive_too_many_files, archive_too_large, archive_bomb.
    """
    name = archive_entry_basename(getattr(upload, "name", "") or "") or "archive.zip"
    handle = getattr(upload, "file", upload)
    handle.seek(0)
    if handle.read(4) not in _ZIP_MAGIC:
        raise ArchiveRejected("archive_not_zip", gettext_noop("%(name)s is not a zip archive."), {"name": name})
    # Folders, hidden files and __MACOSX metadata do not count towards max_files, but the whole
    # directory may hold at most three entries per allowed file (at ~512 bytes each).
    max_entries = max_files * 3 + 16
    declared = _archive_directory_size(handle)
    if declared is None:
        raise ArchiveRejected(
            "archive_corrupt", gettext_noop("%(name)s is damaged: its zip directory is missing."), {"name": name}
        )
    entries, directory_bytes = declared
    if (entries != 0xFFFF and entries > max_entries) or (
        directory_bytes != 0xFFFFFFFF and directory_bytes > max_entries * 512
    ):
        raise ArchiveRejected(
            "archive_too_many_files",
            gettext_noop("%(name)s holds too many entries; an archive may hold at most %(max)s files."),
            {"name": name, "max": max_files},
        )
    try:
        archive = zipfile.ZipFile(handle)
        infos = archive.infolist()
    except Exception as exc:  # zipfile raises many types for hostile directories
        raise ArchiveRejected(
            "archive_corrupt", gettext_noop("%(name)s is damaged and cannot be read as a zip archive."), {"name": name}
        ) from exc
    if len(infos) > max_entries:
        raise ArchiveRejected(
            "archive_too_many_files",
            gettext_noop("%(name)s holds %(n)s entries; the limit is %(max)s files."),
            {"name": name, "n": len(infos), "max": max_files},
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
        raise ArchiveRejected(
            "archive_empty", gettext_noop("%(name)s holds no files (folders and hidden files are skipped)."), {"name": name}
        )
    if len(files) > max_files:
        raise ArchiveRejected(
            "archive_too_many_files",
            gettext_noop("%(name)s holds %(n)s files; the limit is %(max)s per archive."),
            {"name": name, "n": len(files), "max": max_files},
        )
    total = 0
    for info in files:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > ARCHIVE_RATIO_GRACE_BYTES and ratio > max_ratio:
            raise ArchiveRejected(
                "archive_bomb",
                gettext_noop(
                    "%(name)s was refused as a possible zip bomb: the entry "
                    "\"%(entry)s\" would expand %(ratio)s times "
                    "(to %(size)s MB); the limit is %(max_ratio)s times."
                ),
                {
                    "name": name, "entry": archive_entry_display_name(info.filename), "ratio": f"{ratio:.0f}",
                    "size": f"{info.file_size / 1e6:.1f}", "max_ratio": f"{max_ratio:g}",
                },
            )
        total += min(info.file_size, max_entry_bytes + 1)  # larger entries are skipped unread
    if total > max_total_bytes:
        raise ArchiveRejected(
            "archive_too_large",
            gettext_noop("%(name)s would expand to %(size)s MB; the limit is %(limit)s MB per archive."),
            {"name": name, "size": f"{total / 1e6:.0f}", "limit": f"{max_total_bytes / 1e6:.0f}"},
        )
    return ArchivePlan(name=name, reader=archive, entries=tuple(files), ignored=tuple(ignored))


def archive_entry_read(plan: ArchivePlan, info, *, max_entry_bytes: int) -> bytes:
    """Inflate one entry in memory, never past the per-file limit.

    Raises ArchiveRejected: archive_entry_encrypted, archive_entry_unsupported_compression,
    archive_entry_corrupt, file_too_large.
    """
    if info.flag_bits & 0x1:
        raise ArchiveRejected(
            "archive_entry_encrypted", gettext_noop("The file is encrypted; send it without a password.")
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveRejected(
            "archive_entry_unsupported_compression",
            gettext_noop("The file uses a compression method we do not read; use ordinary (deflate) zip compression."),
        )
    if info.file_size > max_entry_bytes:
        raise ArchiveRejected(
            "file_too_large",
            gettext_noop("The file is %(size)s MB; the limit is %(limit)s MB."),
            {"size": f"{info.file_size / 1e6:.1f}", "limit": f"{max_entry_bytes / 1e6:.1f}"},
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
                    raise ArchiveRejected(
                        "file_too_large",
                        gettext_noop("The file is larger than the limit of %(limit)s MB."),
                        {"limit": f"{max_entry_bytes / 1e6:.1f}"},
                    )
                chunks.append(chunk)
    except ArchiveRejected:
        raise
    except Exception as exc:  # bad CRC, truncated stream, lying headers
        raise ArchiveRejected(
            "archive_entry_corrupt", gettext_noop("The file is damaged inside the archive and cannot be read.")
        ) from exc
    return b"".join(chunks)
