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
