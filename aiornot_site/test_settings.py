"""Settings for the test suite: the embedded defaults, with data in a throwaway folder."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("AIORNOT_DATA_DIR", tempfile.mkdtemp(prefix="aiornot-test-"))
# Tests must never reach a broker by accident; the worker integration test sets its own.
os.environ.pop("CELERY_BROKER_URL", None)

from .settings import *  # noqa: E402,F401,F403

STATIC_ROOT = Path(os.environ["AIORNOT_DATA_DIR"]) / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Jobs run inline in tests, so their outcome can be asserted right after the request.
AIORNOT_JOBS_IN_THREAD = False
