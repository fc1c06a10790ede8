"""File digests shared by the ML code and the model registry (no torch, no Django)."""

from __future__ import annotations

import hashlib


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
