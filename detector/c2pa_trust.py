"""Which C2PA trust lists are in force, and how an admin installs a newer one.

The app ships the public lists in ``detector/c2pa_trust_lists/`` (source, commit and date in
its README and ``lists.json``). ``manage.py c2pa_trust_update FILE`` installs a list an admin
downloaded into ``AIORNOT_C2PA_TRUST_DIR``; an installed list takes the place of the shipped one
with the same key. A PEM file named by ``AIORNOT_C2PA_TRUST_ANCHORS`` (an organisation's own
CAs) is checked last.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from django.conf import settings
from django.utils import timezone

from .evidence.provenance import TrustList

logger = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "c2pa_trust_lists"
MAX_TRUST_LIST_BYTES = 5_000_000
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
_HEADER = "# aiornot-trust-list "  # first line of an installed file: its metadata as JSON


class TrustListRejected(Exception):
    """The file is not a usable trust list; nothing was changed."""


@dataclass(frozen=True)
class TrustListInfo:
    """A trust list in force: what people are told about it, and where it is read from."""

    key: str
    name: str
    date: str
    source: str
    path: Path
    certificates: int
    installed: bool  # installed by an admin (True) or shipped with the app (False)


def _shipped_entries() -> list[dict]:
    return json.loads((SHIPPED_DIR / "lists.json").read_text())


def shipped_list_keys() -> list[str]:
    return [entry["key"] for entry in _shipped_entries()]


def _installed_path(key: str) -> Path:
    return Path(settings.AIORNOT_C2PA_TRUST_DIR) / f"{key}.pem"


def _read_installed(path: Path) -> tuple[dict, str] | None:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    first, _, rest = text.partition("\n")
    if not first.startswith(_HEADER):
        return None
    try:
        return json.loads(first[len(_HEADER):]), rest
    except ValueError:
        return None


def trust_lists_in_force() -> list[tuple[TrustListInfo, str]]:
    """Every trust list in force, in the order they are asked, each with its PEM text."""
    found = []
    for entry in _shipped_entries():
        installed = _read_installed(_installed_path(entry["key"]))
        if installed is not None:
            meta, pem = installed
            path, is_installed = _installed_path(entry["key"]), True
        else:
            path, is_installed = SHIPPED_DIR / entry["file"], False
            meta, pem = entry, path.read_text()
        info = TrustListInfo(
            key=entry["key"], name=meta.get("name") or entry["name"], date=meta.get("date", ""),
            source=meta.get("source", ""), path=path, certificates=pem.count("-----BEGIN CERTIFICATE-----"),
            installed=is_installed,
        )
        found.append((info, pem))
    configured = settings.AIORNOT_C2PA_TRUST_ANCHORS
    if configured:
        try:
            pem = Path(configured).read_text()
            changed = datetime.date.fromtimestamp(Path(configured).stat().st_mtime).isoformat()
        except (OSError, UnicodeDecodeError):
            logger.error("C2PA trust anchors file %s cannot be read; validating without it", configured)
        else:
            info = TrustListInfo(
                key="configured", name="trust anchors configured for this site", date=changed,
                source=str(configured), path=Path(configured),
                certificates=pem.count("-----BEGIN CERTIFICATE-----"), installed=True,
            )
            found.append((info, pem))
    return found


def c2pa_trust_lists() -> list[TrustList]:
    """The trust lists in force, as the provenance reader takes them."""
    return [
        TrustList(name=info.name, anchors_pem=pem, date=info.date, source=info.source)
        for info, pem in trust_lists_in_force()
    ]


def trust_list_certificates(text: str) -> list[x509.Certificate]:
    """The certificates of a PEM trust list; raise TrustListRejected saying what is wrong."""
    if not text.strip():
        raise TrustListRejected("the file is empty")
    blocks = _PEM_BLOCK.findall(text)
    kinds = {kind for kind, _ in blocks}
    if any("PRIVATE KEY" in kind for kind in kinds):
        raise TrustListRejected("the file contains a private key; a trust list holds only certificates")
    if text.count("-----BEGIN ") != len(blocks):
        raise TrustListRejected("a PEM block is not closed (BEGIN without a matching END)")
    certificates = []
    for number, (kind, body) in enumerate(blocks, start=1):
        if kind != "CERTIFICATE":
            raise TrustListRejected(f"PEM block {number} is a {kind}, not a CERTIFICATE")
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
            certificates.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError) as exc:
            raise TrustListRejected(f"certificate {number} cannot be read ({exc})") from exc
    if not certificates:
        raise TrustListRejected("the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    return certificates


def trust_list_install(*, key: str, path: Path, date: str | None = None, source: str = "",
                       name: str | None = None) -> TrustListInfo:
    """Check the PEM file at ``path`` and make it the trust list ``key``, atomically.

    A file that is missing, too large, not text, empty, not PEM, holds a private key or any
    certificate that does not parse is refused with TrustListRejected and nothing changes.
    """
    entries = {entry["key"]: entry for entry in _shipped_entries()}
    if key not in entries:
        raise TrustListRejected(f"there is no trust list '{key}' (known: {', '.join(entries)})")
    if date is not None:
        try:
            date = datetime.date.fromisoformat(date).isoformat()
        except ValueError as exc:
            raise TrustListRejected(f"the date '{date}' is not YYYY-MM-DD") from exc
    try:
        size = path.stat().st_size
        if size > MAX_TRUST_LIST_BYTES:
            raise TrustListRejected(f"the file is {size} bytes; a trust list is at most {MAX_TRUST_LIST_BYTES}")
        raw = path.read_bytes()
    except OSError as exc:
        raise TrustListRejected(f"the file cannot be read ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise TrustListRejected("the file is not a PEM text file (it holds non-ASCII bytes)") from exc
    certificates = trust_list_certificates(text)

    meta = {
        "name": name or entries[key]["name"],
        "date": date or timezone.localdate().isoformat(),
        "source": source or str(path),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "installed_at": timezone.now().isoformat(timespec="seconds"),
    }
    target = _installed_path(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{key}-", suffix=".pem")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(_HEADER + json.dumps(meta) + "\n" + text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # the web and worker processes read it
        os.replace(temporary, target)  # readers see the old list or the new one, never a mix
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return TrustListInfo(
        key=key, name=meta["name"], date=meta["date"], source=meta["source"], path=target,
        certificates=len(certificates), installed=True,
    )
