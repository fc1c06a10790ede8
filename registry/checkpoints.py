"""The verified checkpoint store: a registered version's file as a local copy whose sha256 matches.

The lowest registry module: scoring reads the active model's file through it, so it depends only
on the registry's models and errors, Django's settings and storage, and never on torch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils.translation import gettext

from detector.ml.digests import file_sha256

from .errors import RegistryError
from .models import ModelVersion

_verified: dict[str, Path] = {}
_verify_lock = threading.Lock()


def checkpoint_local_path(version: ModelVersion) -> Path:
    """A local copy of the version's file whose sha256 matches the registry.

    Raises RegistryError when the stored file is missing or its bytes do not match.
    """
    cache = Path(settings.AIORNOT_MODEL_CACHE_DIR)
    local = cache / f"{version.sha256}.pt"
    with _verify_lock:
        if _verified.get(version.sha256) == local and local.is_file():
            return local
        if local.is_file() and file_sha256(local) == version.sha256:
            _verified[version.sha256] = local
            return local
        if not default_storage.exists(version.file):
            raise RegistryError(
                "model_file_missing",
                gettext(
                    "The file of model %(version)s (%(file)s) is missing from storage. Restore it, or roll "
                    "back to another version."
                ) % {"version": version.version, "file": version.file},
                409,
            )
        cache.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=cache, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out, default_storage.open(version.file, "rb") as stored:
                shutil.copyfileobj(stored, out)
            actual = file_sha256(partial)
            if actual != version.sha256:
                raise RegistryError(
                    "model_sha256_mismatch",
                    gettext(
                        "The file of model %(version)s does not match the registry: sha256 %(actual)s... "
                        "instead of %(expected)s.... It was changed or corrupted; it will not be loaded."
                    ) % {"version": version.version, "actual": actual[:12], "expected": version.sha256[:12]},
                    409,
                )
            os.replace(partial, local)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        _verified[version.sha256] = local
        return local
