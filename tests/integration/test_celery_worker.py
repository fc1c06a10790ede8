"""Scale-out mode for real: gunicorn + a separate `celery worker` on Redis/RabbitMQ + PostgreSQL.

The submission travels over HTTP to the web process, through the broker to the worker,
which scores it with the model; the API first shows it pending, then scored, and a
reviewer decides it. Skipped unless the services are configured (see conftest).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.images import image_bytes

REPO = Path(__file__).resolve().parents[2]
BROKERS = [u for u in os.environ.get("AIORNOT_TEST_BROKER_URL", "").split() if u] or ["redis://unset"]

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _call(method: str, url: str, token: str, body: bytes | None = None, content_type: str | None = None):
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Token {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _wait_until(predicate, timeout: float, what: str, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{what}: a process exited early with {proc.returncode}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def scale_out_env(tmp_path, detector_checkpoint, request):
    broker = request.param
    queue = f"aiornot-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiornot_site.settings",
        "DATABASE_URL": _database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "AIORNOT_DATA_DIR": str(tmp_path / "data"),
        "AIORNOT_MEDIA_ROOT": str(tmp_path / "media"),
        "AIORNOT_DETECTOR_CHECKPOINT": str(detector_checkpoint),
        # Real scores, thresholds that send the image to people.
        "AIORNOT_LIKELY_HUMAN_THRESHOLD": "0",
        "AIORNOT_LIKELY_AI_THRESHOLD": "1e-12",
        "PYTHONUNBUFFERED": "1",
    }
    return env, queue


@pytest.mark.parametrize("scale_out_env", BROKERS, indirect=True, ids=lambda u: u.split(":")[0])
def test_submission_is_scored_by_a_separate_celery_worker(scale_out_env, submitter, reviewer, tmp_path):
    env, queue = scale_out_env
    port = _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "aiornot_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--timeout", "60"],
        cwd=REPO, env=env, stdout=open(logs / "web.log", "w"), stderr=subprocess.STDOUT,
    )
    worker = None
    try:
        base = f"http://127.0.0.1:{port}"
        token = Token.objects.create(user=submitter).key
        review_token = Token.objects.create(user=reviewer).key

        def web_up():
            try:
                return _call("GET", f"{base}/api/v1/submissions/", token)[0] == 200
            except OSError:
                return False

        _wait_until(web_up, 60, "gunicorn to start", [web])

        # No worker yet: the submission is stored and waits, pending, in the broker.
        body, content_type = _multipart("image", "scaled.png", image_bytes("PNG", seed=321))
        status, created = _call("POST", f"{base}/api/v1/submissions/", token, body, content_type)
        assert status == 201, created
        assert created["status"] == "pending" and created["score"] is None
        time.sleep(1)
        assert _call("GET", f"{base}/api/v1/submissions/{created['id']}/", token)[1]["status"] == "pending"

        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "aiornot_site", "worker", "--pool=solo", "--concurrency=1",
             "-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            cwd=REPO, env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT,
        )

        def scored():
            result = _call("GET", f"{base}/api/v1/submissions/{created['id']}/", token)[1]
            return result if result["status"] != "pending" else None

        try:
            result = _wait_until(scored, 120, "the worker to score the submission", [web, worker])
        except AssertionError:
            print((logs / "worker.log").read_text()[-4000:])
            print((logs / "web.log").read_text()[-4000:])
            raise
        assert result["status"] == "scored", result
        assert result["score"]["verdict"] == "likely_ai"
        assert result["score"]["ai_generated"].startswith("AI-generated: ")
        assert result["review"]["state"] == "waiting"
        assert "Task detector.score_submission" in (logs / "worker.log").read_text()

        status, case = _call("POST", f"{base}/api/v1/review/claim/", review_token)
        assert status == 200, case
        status, decision = _call(
            "POST", f"{base}/api/v1/review/cases/{case['id']}/decision/", review_token,
            json.dumps({"decision": "ai", "note": "checked"}).encode(), "application/json",
        )
        assert status == 201, decision
        final = _call("GET", f"{base}/api/v1/submissions/{created['id']}/", token)[1]
        assert final["review"] == {"state": "decided", "label": "ai", "decided_at": final["review"]["decided_at"]}
    finally:
        for proc in (worker, web):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        connection.close()
