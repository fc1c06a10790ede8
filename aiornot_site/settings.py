"""Django settings for aiornot.

Every knob an on-prem admin may set is read here from the environment, with a safe
default for the embedded single-machine mode (SQLite, local files, in-process tasks).
docs/configuration.md lists them all.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float | None) -> float | None:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# Where the embedded mode keeps its database, media and generated secret.
DATA_DIR = Path(env_str("AIORNOT_DATA_DIR", str(BASE_DIR / "var")))


def _secret_key() -> str:
    key = env_str("DJANGO_SECRET_KEY")
    if key:
        return key
    # Embedded mode: generate one secret per installation and keep it, so sessions
    # survive restarts without anyone committing a key.
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "storages",
    "detector.apps.DetectorConfig",
    "reviews.apps.ReviewsConfig",
    "registry.apps.RegistryConfig",
    "dashboards.apps.DashboardsConfig",
    "webhooks.apps.WebhooksConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "aiornot_site.middleware.RequestSizeLimitMiddleware",
    "aiornot_site.security.RateLimitMiddleware",
    "aiornot_site.security.ContentSecurityPolicyMiddleware",
]

# Caches: local memory by default; AIORNOT_CACHE_URL (e.g. redis://127.0.0.1:6379/1) shares
# rate-limit counters across web processes and machines.
_cache_url = env_str("AIORNOT_CACHE_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "aiornot-default"}
    ),
}
CACHES["ratelimit"] = {**CACHES["default"], "KEY_PREFIX": "ratelimit"} if _cache_url else {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "aiornot-ratelimit"
}
# Rate limits ("count/period", period s, m, h or d). Sign-in per client address; submissions
# per user (per address when anonymous).
AIORNOT_RATE_LIMITS = env_bool("AIORNOT_RATE_LIMITS", True)
AIORNOT_RATE_LIMIT_LOGIN = env_str("AIORNOT_RATE_LIMIT_LOGIN", "20/m")
AIORNOT_RATE_LIMIT_SUBMIT = env_str("AIORNOT_RATE_LIMIT_SUBMIT", "120/m")
# Behind N reverse proxies that append to X-Forwarded-For, the client address is the Nth from the end.
AIORNOT_TRUSTED_PROXY_COUNT = env_int("AIORNOT_TRUSTED_PROXY_COUNT", 0)
# Content Security Policy: everything from this site only; inline style attributes allowed
# (score bars), inline scripts never.
AIORNOT_CSP = env_str(
    "AIORNOT_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)

ROOT_URLCONF = "aiornot_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "aiornot_site.context_processors.roles",
                "aiornot_site.context_processors.review_badges",
            ],
        },
    },
]

WSGI_APPLICATION = "aiornot_site.wsgi.application"
ASGI_APPLICATION = "aiornot_site.asgi.application"

# Database: SQLite in DATA_DIR by default; DATABASE_URL (e.g. postgres://...) for scale-out.
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers and the one writer work at once. Every transaction starts with BEGIN
    # IMMEDIATE, so it takes the write lock up front and waits up to `timeout` seconds for it:
    # a deferred transaction that reads, then writes, fails at once with "database is locked"
    # when another writer got in between, whatever the busy timeout says.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": env_int("AIORNOT_SQLITE_BUSY_TIMEOUT", 20),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = env_str("DJANGO_LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Static files are served by whitenoise from STATIC_ROOT (run collectstatic).
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("AIORNOT_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

# Media (submitted images) are private: they are never served from a public URL,
# only through permission-checked views. MEDIA_URL is therefore not routed.
MEDIA_ROOT = Path(env_str("AIORNOT_MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media-not-served/"

AIORNOT_S3_BUCKET = env_str("AIORNOT_S3_BUCKET")
if AIORNOT_S3_BUCKET:
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AIORNOT_S3_BUCKET,
            "endpoint_url": env_str("AIORNOT_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AIORNOT_S3_REGION") or None,
            "access_key": env_str("AIORNOT_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AIORNOT_S3_SECRET_ACCESS_KEY") or None,
            "location": env_str("AIORNOT_S3_PREFIX", ""),
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": env_int("AIORNOT_S3_URL_EXPIRE_SECONDS", 300),
            "file_overwrite": False,
        },
    }
else:
    default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "file_permissions_mode": 0o640},
    }
STORAGES = {
    "default": default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Celery: with no broker configured, tasks run inside the web process (embedded mode).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "aiornot")
# celery beat: every AIORNOT_SWEEP_PENDING_EVERY_SECONDS, re-queue submissions pending for
# longer than AIORNOT_SWEEP_PENDING_AFTER_SECONDS (they were stored while the broker was down).
AIORNOT_SWEEP_PENDING_EVERY_SECONDS = env_int("AIORNOT_SWEEP_PENDING_EVERY_SECONDS", 60)
AIORNOT_SWEEP_PENDING_AFTER_SECONDS = env_int("AIORNOT_SWEEP_PENDING_AFTER_SECONDS", 120)
# Without a broker the web process scores in its own background thread (see
# detector/scoring_queue.py): uploads return at once, at most AIORNOT_SCORING_QUEUE_SIZE jobs wait
# in memory (beyond that a submission stays pending for the sweeper), and the same thread runs the
# sweeper above every AIORNOT_SWEEP_PENDING_EVERY_SECONDS.
AIORNOT_SCORING_IN_THREAD = env_bool("AIORNOT_SCORING_IN_THREAD", not CELERY_BROKER_URL)
AIORNOT_SCORING_QUEUE_SIZE = env_int("AIORNOT_SCORING_QUEUE_SIZE", 1000)
# ...and loads the model before it serves (so the first upload is as quick as any other); off:
# the scoring thread loads it in the background while the first requests are served.
AIORNOT_WARM_UP_BEFORE_SERVING = env_bool("AIORNOT_WARM_UP_BEFORE_SERVING", True)
# ...and scores at this nice value above the request threads (0: the same priority), so an upload
# is answered at once even while the thread draws a large image's heatmap on every core.
AIORNOT_SCORING_THREAD_NICE = env_int("AIORNOT_SCORING_THREAD_NICE", 10)
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-submissions": {
        "task": "detector.sweep_pending",
        "schedule": float(AIORNOT_SWEEP_PENDING_EVERY_SECONDS),
    },
    "send-due-webhooks": {"task": "webhooks.send_due", "schedule": 60.0},
    "retrain-when-labels-arrive": {"task": "registry.retrain_when_labels_arrive", "schedule": 600.0},
}
CELERY_TIMEZONE = TIME_ZONE

# REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "aiornot_site.api_errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "aiornot_site.api_parsers.JSONObjectParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
}
# A JSON request body must be one object nested at most this deep (deeper: 400 json_too_deep).
AIORNOT_JSON_MAX_DEPTH = env_int("AIORNOT_JSON_MAX_DEPTH", 32)
SPECTACULAR_SETTINGS = {
    "TITLE": "aiornot API",
    "DESCRIPTION": (
        "Score how likely an image is AI-generated and route it to human review. "
        "Scores are an aid for people, never a verdict on their own."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The reviewer's decision and a case's label share one choice set: one schema name for it.
    "ENUM_NAME_OVERRIDES": {"ReviewDecisionEnum": "reviews.models.Decision"},
}

# Image intake limits: checked before any pixel is decoded.
AIORNOT_MAX_UPLOAD_BYTES = env_int("AIORNOT_MAX_UPLOAD_BYTES", 25 * 1024 * 1024)
AIORNOT_MAX_IMAGE_PIXELS = env_int("AIORNOT_MAX_IMAGE_PIXELS", 60_000_000)
# Requests larger than this are refused before their body is read.
AIORNOT_MAX_REQUEST_BYTES = AIORNOT_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Most files and links accepted in one batch request.
AIORNOT_BATCH_MAX_ITEMS = env_int("AIORNOT_BATCH_MAX_ITEMS", 50)
# Zip archives (batch API field `archive`, collection upload page) are expanded in memory, one
# entry at a time; each entry is held to AIORNOT_MAX_UPLOAD_BYTES, and the archive itself to the
# request limit above. Zip-bomb guards: files per archive (folders, hidden files and __MACOSX
# metadata not counted), total expanded size, and the expansion ratio of any entry over 1 MiB.
AIORNOT_ZIP_MAX_FILES = env_int("AIORNOT_ZIP_MAX_FILES", 2000)
AIORNOT_ZIP_MAX_TOTAL_BYTES = env_int("AIORNOT_ZIP_MAX_TOTAL_BYTES", 1024 * 1024 * 1024)
AIORNOT_ZIP_MAX_RATIO = env_int("AIORNOT_ZIP_MAX_RATIO", 100)

# Fetching an image from a web link.
AIORNOT_URL_FETCH_TIMEOUT = env_float("AIORNOT_URL_FETCH_TIMEOUT", 15.0)
AIORNOT_URL_FETCH_MAX_REDIRECTS = env_int("AIORNOT_URL_FETCH_MAX_REDIRECTS", 5)
# CIDR ranges an admin trusts despite being non-public (an intranet image server).
AIORNOT_URL_FETCH_ALLOWED_NETWORKS = env_list("AIORNOT_URL_FETCH_ALLOWED_NETWORKS")

# The detector checkpoint that scores images.
AIORNOT_DETECTOR_CHECKPOINT = Path(
    env_str("AIORNOT_DETECTOR_CHECKPOINT", str(BASE_DIR / "detector" / "weights" / "default.pt"))
)

# Inference: torch threads per process (0 = torch's default, one per core; with several
# worker processes per machine use cores // processes), and a TorchScript copy of the
# model for faster CPU scoring (scores equal within 1e-6; "none" to turn it off).
AIORNOT_TORCH_THREADS = env_int("AIORNOT_TORCH_THREADS", 0)
AIORNOT_DETECTOR_OPTIMIZE = env_str("AIORNOT_DETECTOR_OPTIMIZE", "torchscript")
# Score a JPEG-90, 0.9x copy too and call the image uncertain when the verdict flips.
AIORNOT_STABILITY_CHECK = env_bool("AIORNOT_STABILITY_CHECK", True)
# Store a Grad-CAM heatmap with each classifier result (about 8x the cost of a score, bench/README.md).
AIORNOT_HEATMAPS = env_bool("AIORNOT_HEATMAPS", True)
AIORNOT_HEATMAP_MAX_SIDE = env_int("AIORNOT_HEATMAP_MAX_SIDE", 1600)

# Model registry and the retrain loop. Registered checkpoints live in the default storage
# (models/...); each process keeps a sha256-verified local copy in AIORNOT_MODEL_CACHE_DIR.
AIORNOT_MODEL_CACHE_DIR = Path(env_str("AIORNOT_MODEL_CACHE_DIR", str(BASE_DIR / "var" / "model-cache")))
# Labelled data every retrain starts from (besides the reviewers' labels); empty for none.
AIORNOT_BASE_TRAINING_DATA = env_list("AIORNOT_BASE_TRAINING_DATA")
# A probe model (frozen backbone + linear head) is retrained by refitting its head: the backbone
# features of the base data are cached here, and reviewer labels weigh this many times a base image.
AIORNOT_FEATURE_CACHE_DIR = Path(env_str("AIORNOT_FEATURE_CACHE_DIR", str(BASE_DIR / "var" / "feature-cache")))
AIORNOT_RETRAIN_LABEL_WEIGHT = env_float("AIORNOT_RETRAIN_LABEL_WEIGHT", 4.0)
# ...and the base data's human-made artworks are replayed at this weight, so that labels of an
# illustration-like generator (paired with photo labels) do not teach "illustration means AI":
# without it, 200 such labels put unseen human art over likely_ai 2.7% of the time (docs/retraining.md).
AIORNOT_RETRAIN_HUMAN_ART_WEIGHT = env_float("AIORNOT_RETRAIN_HUMAN_ART_WEIGHT", 4.0)
# A model with NPR members (the default) trains all but one of them this many more epochs, at this
# learning rate, on the reviewer labels with replay of the base data (0 keeps them as they are):
# the patch models learn a new generator's traces, which the frozen backbone's features barely show.
AIORNOT_RETRAIN_NPR_EPOCHS = env_int("AIORNOT_RETRAIN_NPR_EPOCHS", 4)
AIORNOT_RETRAIN_NPR_LR = env_float("AIORNOT_RETRAIN_NPR_LR", 5e-4)
# ...with each reviewer label weighing this many times a base image (the head's weight is above).
AIORNOT_RETRAIN_NPR_LABEL_WEIGHT = env_float("AIORNOT_RETRAIN_NPR_LABEL_WEIGHT", 16.0)
# Share of each new batch of reviewer labels frozen into the evaluation hold-out (newest first).
AIORNOT_HOLDOUT_FRACTION = env_float("AIORNOT_HOLDOUT_FRACTION", 0.2)
# Promotion guard: the candidate's false-positive rate on human-labelled hold-out images at
# its likely_ai threshold may not exceed this, and its ROC AUC may not be below the active one's.
AIORNOT_PROMOTION_MAX_FPR = env_float("AIORNOT_PROMOTION_MAX_FPR", 0.01)
# ...measured on at least this many human-labelled and this many AI-labelled hold-out images.
AIORNOT_PROMOTION_MIN_HOLDOUT_PER_CLASS = env_int("AIORNOT_PROMOTION_MIN_HOLDOUT_PER_CLASS", 20)
# Without a broker (the embedded mode) long jobs (retrain, rescore) run in a background thread
# of the web process instead of inside the request that started them.
AIORNOT_JOBS_IN_THREAD = env_bool("AIORNOT_JOBS_IN_THREAD", not env_str("CELERY_BROKER_URL"))
# Scheduled candidates: once this many new training-side reviewer labels have arrived since the
# last candidate, a retrain runs in the background (celery beat every 10 minutes; the embedded
# sweeper otherwise) and registers a candidate for an admin to promote. 0 turns it off.
AIORNOT_RETRAIN_AFTER_LABELS = env_int("AIORNOT_RETRAIN_AFTER_LABELS", 200)
# New-generator alert on /models/: reviewer-labelled AI images the model scored below likely_ai,
# grouped when their classifier embeddings are at least this cosine-similar to a group's mean
# (unrelated photos score at most ~0.30, a resized copy ~0.99); a group of at least
# AIORNOT_MISSED_AI_MIN_CLUSTER images is shown as a likely new generator.
AIORNOT_MISSED_AI_SIMILARITY = env_float("AIORNOT_MISSED_AI_SIMILARITY", 0.6)
AIORNOT_MISSED_AI_MIN_CLUSTER = env_int("AIORNOT_MISSED_AI_MIN_CLUSTER", 3)
# "Unlike anything the model was trained on" on the case page: the image's classifier embedding is
# less than this cosine-similar to every embedding of the training data, which
# `manage.py index_training_embeddings` writes to this file (per model: rerun it after a promotion).
AIORNOT_TRAINING_EMBEDDINGS = Path(env_str("AIORNOT_TRAINING_EMBEDDINGS", str(DATA_DIR / "training-embeddings.npz")))
AIORNOT_NOVEL_SIMILARITY = env_float("AIORNOT_NOVEL_SIMILARITY", 0.5)
# The review queue puts forward, among comparably uncertain cases (after deadlines), the images
# least similar to the training data: their labels teach the next model the most. Off: age decides.
AIORNOT_QUEUE_TEACHING_ORDER = env_bool("AIORNOT_QUEUE_TEACHING_ORDER", True)

# Verdict thresholds on P(AI). Unset means: use the thresholds the checkpoint was
# calibrated with (chosen to keep false positives on real images rare).
AIORNOT_LIKELY_AI_THRESHOLD = env_float("AIORNOT_LIKELY_AI_THRESHOLD", None)
AIORNOT_LIKELY_HUMAN_THRESHOLD = env_float("AIORNOT_LIKELY_HUMAN_THRESHOLD", None)
# Art-contest collections call an image likely_ai only at or above this P(AI) (or the
# threshold above, if higher), and never tell the entrant "AI" before a reviewer agrees.
AIORNOT_ART_CONTEST_MIN_LIKELY_AI = env_float("AIORNOT_ART_CONTEST_MIN_LIKELY_AI", 0.9)
# Newsroom collections clear a photo as likely_human only at or below this P(AI): a fake that
# slips through is published, so more photos go to an editor.
AIORNOT_NEWSROOM_MAX_LIKELY_HUMAN = env_float("AIORNOT_NEWSROOM_MAX_LIKELY_HUMAN", 0.1)

# Evidence layers beyond the classifier. C2PA manifests are validated offline against the
# public trust lists shipped in detector/c2pa_trust_lists/ (or newer copies an admin installed
# with `manage.py c2pa_trust_update`, kept in AIORNOT_C2PA_TRUST_DIR), plus an optional PEM
# file of the site's own CA certificates (AIORNOT_C2PA_TRUST_ANCHORS).
AIORNOT_C2PA_TRUST_ANCHORS = env_str("AIORNOT_C2PA_TRUST_ANCHORS", "")
AIORNOT_C2PA_TRUST_DIR = Path(env_str("AIORNOT_C2PA_TRUST_DIR", str(DATA_DIR / "c2pa-trust")))

# Routing: every image not scored likely_human goes to review, plus a share of likely_human
# ones (a check on the model's misses). The share is measured per model version: from
# reviewers' labels on that sample, the miss rate (AI among likely_human) gets a 95% Wilson
# interval; once AIORNOT_REVIEW_MISS_RATE_MIN_LABELS labels are in (or sooner if even the
# interval's lower bound passes the limit) and its upper bound passes
# AIORNOT_REVIEW_MISS_RATE_LIMIT, the share rises to 1 - limit / upper bound, so that at most
# `limit` of likely_human images are AI that nobody sees. Never below this floor.
AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = env_float("AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN", 0.1)
AIORNOT_REVIEW_MISS_RATE_LIMIT = env_float("AIORNOT_REVIEW_MISS_RATE_LIMIT", 0.05)
AIORNOT_REVIEW_MISS_RATE_MIN_LABELS = env_int("AIORNOT_REVIEW_MISS_RATE_MIN_LABELS", 30)
# How long a reviewer's claim on a case lasts before it returns to the queue.
AIORNOT_REVIEW_LEASE_MINUTES = env_int("AIORNOT_REVIEW_LEASE_MINUTES", 30)
# A case a reviewer skipped is not offered to that reviewer again for this many hours.
AIORNOT_REVIEW_SKIP_HOURS = env_float("AIORNOT_REVIEW_SKIP_HOURS", 24)
# A reviewer may undo their last decision for this many seconds, while nothing depends on it.
AIORNOT_REVIEW_UNDO_SECONDS = env_int("AIORNOT_REVIEW_UNDO_SECONDS", 600)
# The dashboard shows a rate or calibration error only from at least this many images;
# below it says "not enough data yet" (a rate from one image reads as a fact and is none).
AIORNOT_DASHBOARD_MIN_COUNT = env_int("AIORNOT_DASHBOARD_MIN_COUNT", 10)

# Webhooks: callbacks to API clients when a case is decided. Callback URLs obey the link-fetch
# SSRF rules (AIORNOT_URL_FETCH_ALLOWED_NETWORKS included). A failed attempt is retried after
# base × 2^(n-1) seconds until AIORNOT_WEBHOOK_MAX_ATTEMPTS attempts were made.
AIORNOT_WEBHOOK_TIMEOUT = env_float("AIORNOT_WEBHOOK_TIMEOUT", 5.0)
AIORNOT_WEBHOOK_MAX_ATTEMPTS = env_int("AIORNOT_WEBHOOK_MAX_ATTEMPTS", 8)
AIORNOT_WEBHOOK_RETRY_BASE_SECONDS = env_int("AIORNOT_WEBHOOK_RETRY_BASE_SECONDS", 30)
AIORNOT_WEBHOOK_MAX_ENDPOINTS_PER_USER = env_int("AIORNOT_WEBHOOK_MAX_ENDPOINTS_PER_USER", 10)

# Production hardening, on when DEBUG is off and the site runs behind TLS.
AIORNOT_HTTPS = env_bool("AIORNOT_HTTPS", False)
SESSION_COOKIE_SECURE = AIORNOT_HTTPS
CSRF_COOKIE_SECURE = AIORNOT_HTTPS
SECURE_SSL_REDIRECT = AIORNOT_HTTPS and env_bool("AIORNOT_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("AIORNOT_HSTS_SECONDS", 31536000 if AIORNOT_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = AIORNOT_HTTPS
SECURE_HSTS_PRELOAD = AIORNOT_HTTPS
if env_bool("AIORNOT_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("AIORNOT_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
