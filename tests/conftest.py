"""Shared fixtures: users in each role, real images, and a detector trained by our own code."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from aiornot_site.roles import ADMINS, REVIEWERS, SUBMITTERS

from .images import image_bytes

REPO = Path(__file__).resolve().parents[1]
SHARED_TRAIN = REPO.parent / "shared" / "data" / "train"
REQUIRE_SERVICES = os.environ.get("AIORNOT_REQUIRE_SERVICES") == "1"


def _synthetic_training_folder(root: Path) -> Path:
    """Used only where ../shared/data/train is absent: two visibly different image families."""
    for label, fmt in (("real", "JPEG"), ("ai", "PNG")):
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(24):
            (folder / f"{label}{i}.{fmt.lower()}").write_bytes(
                image_bytes(fmt, size=(64, 64), seed=i + (1000 if label == "ai" else 0))
            )
    return root


@pytest.fixture(scope="session")
def detector_checkpoint(tmp_path_factory) -> Path:
    """A small checkpoint trained by our training code on real images from the corpus."""
    from detector.ml.training import train_detector

    output = tmp_path_factory.mktemp("model") / "test-detector.pt"
    if (SHARED_TRAIN / "MANIFEST.csv").exists():
        data_dir = SHARED_TRAIN
    else:
        data_dir = _synthetic_training_folder(tmp_path_factory.mktemp("synthetic-data"))
    train_detector(
        data_dirs=[data_dir],
        output=output,
        arch="resnet10t",
        pretrained=False,
        input_size=64,
        epochs=1,
        batch_size=16,
        max_images=48,
        seed=0,
        progress=False,
        log=lambda *args, **kwargs: None,
    )
    return output


@pytest.fixture(autouse=True)
def _test_environment(request, tmp_path):
    """Tests that touch the database run the app: give them the test model and private storage."""
    if request.node.get_closest_marker("django_db") is None and "db" not in request.fixturenames:
        return
    settings = request.getfixturevalue("settings")
    settings.AIORNOT_DETECTOR_CHECKPOINT = request.getfixturevalue("detector_checkpoint")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 0.0
    settings.AIORNOT_C2PA_TRUST_DIR = tmp_path / "c2pa-trust"  # only the shipped trust lists
    settings.AIORNOT_TRAINING_EMBEDDINGS = tmp_path / "training-embeddings.npz"  # none unless a test writes it
    from django.core.cache import caches

    caches["ratelimit"].clear()  # each test starts with fresh rate-limit windows
    settings.AIORNOT_LIKELY_AI_THRESHOLD = None
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD = None


def _user(django_user_model, username: str, group: str | None, **extra):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username, **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def submitter(db, django_user_model):
    return _user(django_user_model, "sam", SUBMITTERS)


@pytest.fixture
def other_submitter(db, django_user_model):
    return _user(django_user_model, "olga", SUBMITTERS)


@pytest.fixture
def reviewer(db, django_user_model):
    return _user(django_user_model, "rita", REVIEWERS)


@pytest.fixture
def reviewer2(db, django_user_model):
    return _user(django_user_model, "ravi", REVIEWERS)


@pytest.fixture
def site_admin(db, django_user_model):
    return _user(django_user_model, "ada", ADMINS, is_staff=True)


@pytest.fixture
def no_role_user(db, django_user_model):
    return _user(django_user_model, "nobody", None)


@pytest.fixture
def web(client):
    """A browser-like client: log in as someone with ``web.login_as(user)``."""

    def login_as(user):
        client.force_login(user)
        return client

    client.login_as = login_as
    return client


@pytest.fixture
def api_for():
    """An API client authenticated with the user's token, as an integrator would be."""

    def make(user) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def png():
    return lambda seed=0, **kw: image_bytes("PNG", seed=seed, **kw)


@pytest.fixture
def jpeg():
    return lambda seed=0, **kw: image_bytes("JPEG", seed=seed, **kw)


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def media_files(tmp_path):
    """The stored original images (heatmaps live beside them under heatmaps/)."""
    return lambda: stored_files(tmp_path / "media" / "images")


# --- Services (PostgreSQL, broker) ---------------------------------------------------------------


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    port = parsed.port or {"redis": 6379, "amqp": 5672, "postgres": 5432, "postgresql": 5432}.get(parsed.scheme)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def services_status() -> tuple[bool, str]:
    from django.db import connection

    brokers = [u for u in os.environ.get("AIORNOT_TEST_BROKER_URL", "").split() if u]
    if connection.vendor != "postgresql":
        return False, "needs DATABASE_URL pointing at PostgreSQL"
    if not brokers:
        return False, "needs AIORNOT_TEST_BROKER_URL (Redis or RabbitMQ)"
    for url in brokers:
        if not _reachable(url):
            return False, f"broker {url} is not reachable"
    return True, ""


def pytest_runtest_setup(item):
    if item.get_closest_marker("services") is None:
        return
    ok, why = services_status()
    if ok:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"AIORNOT_REQUIRE_SERVICES=1 but the services are unavailable: {why}", pytrace=False)
    pytest.skip(f"services not configured: {why}")


# --- A real browser for end-to-end tests (Debian's Chromium driven by Playwright) -----------------
# One browser per test session, shared by every browser test: Playwright's sync API cannot be
# started twice in one thread. Without Chromium the browser tests skip, unless
# AIORNOT_REQUIRE_BROWSER=1 (set by .ci/run) makes that a failure. Screenshots: test-artifacts/e2e/.

import shutil  # noqa: E402

SCREENSHOTS = REPO / "test-artifacts" / "e2e"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REQUIRE_BROWSER = os.environ.get("AIORNOT_REQUIRE_BROWSER") == "1"


def _chromium() -> str | None:
    for candidate in (os.environ.get("AIORNOT_CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if executable is None or sync_playwright is None:
        reason = "Chromium is not installed (apt-get install chromium)" if executable is None else "playwright is missing"
        if REQUIRE_BROWSER:
            pytest.fail(f"end-to-end tests required (AIORNOT_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are ordinary blocking calls, which Django would otherwise refuse.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def screenshot():
    """screenshot(page, "name") saves test-artifacts/e2e/<name>.png and returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def sign_in(browser, live_server):
    """A fresh browser context signed in as the user (password "pw-<username>", as tests/conftest.py sets)."""
    contexts = []

    def open_as(user):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", f"pw-{user.username}")
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state()
        return page

    yield open_as
    for context in contexts:
        context.close()
