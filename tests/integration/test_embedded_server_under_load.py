"""The embedded default as `scripts/run.sh` serves it, under load and against slow clients.

gunicorn with aiornot_site/gunicorn_conf.py, no broker (the web process scores in its own thread),
driven over loopback by real concurrent clients: a burst of uploads is all scored with nothing
lost, concurrent decisions on one case give one decision and no 5xx, one reviewer's concurrent
claims hold one case, and clients that stop halfway through a request do not stop the server.

Runs on a SQLite file (as run.sh does) and, when DATABASE_URL points at PostgreSQL, on a fresh
PostgreSQL database too (a failure instead of a skip with AIORNOT_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.images import image_bytes

REPO = Path(__file__).resolve().parents[2]
SEED_USERS = """
import json
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
tokens = {}
for name, role in [("uploader", "submitters"), ("rita", "reviewers"), ("ravi", "reviewers")]:
    user = User.objects.create_user(name, password="pw-" + name)
    user.groups.add(Group.objects.get(name=role))
    tokens[name] = Token.objects.create(user=user).key
print("TOKENS=" + json.dumps(tokens))
"""
# Slow-client limits of the server under test (defaults are 10 / 10 / 120 s), so the test is short.
CLIENT_TIMEOUTS = {"AIORNOT_CLIENT_IDLE_TIMEOUT": "3", "AIORNOT_CLIENT_HEADER_TIMEOUT": "3",
                   "AIORNOT_CLIENT_BODY_TIMEOUT": "5"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedServer:
    def __init__(self, base: str, port: int, tokens: dict, log: Path):
        self.base, self.port, self.tokens, self.log = base, port, tokens, log

    def call(self, method: str, path: str, token: str | None = None, body: bytes | None = None,
             content_type: str | None = None, timeout: float = 60):
        request = urllib.request.Request(self.base + path, data=body, method=method)
        if token:
            request.add_header("Authorization", f"Token {token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw or b"null")
            except ValueError:
                return exc.code, raw.decode(errors="replace")[:300]

    def upload(self, data: bytes, name: str):
        boundary = uuid.uuid4().hex
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            "Content-Type: image/png\r\n\r\n"
        ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self.call("POST", "/api/v1/submissions/", self.tokens["uploader"], body,
                         f"multipart/form-data; boundary={boundary}")

    def wait_scored(self, ids, timeout: float = 150) -> dict[int, dict]:
        """Poll until every submission is no longer pending; returns the last body of each."""
        pending, done = set(ids), {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for sid in list(pending):
                status, body = self.call("GET", f"/api/v1/submissions/{sid}/", self.tokens["uploader"])
                assert status == 200, (status, body)
                if body["status"] != "pending":
                    done[sid] = body
                    pending.discard(sid)
            if pending:
                time.sleep(0.5)
        assert not pending, f"{len(pending)} of {len(ids)} submission(s) still pending after {timeout} s: {sorted(pending)}"
        return done

    def server_errors_logged(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if re.search(r'HTTP/1\.[01]" 5\d\d ', line)]


def _postgres_admin_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if urlparse(url).scheme in ("postgres", "postgresql") else None


def _postgres_database(name: str, action: str) -> None:
    parsed = urlparse(_postgres_admin_url())
    with psycopg.connect(host=parsed.hostname or "127.0.0.1", port=parsed.port or 5432, dbname="postgres",
                         user=parsed.username or "postgres", password=parsed.password, autocommit=True) as conn:
        conn.execute(f'{action} DATABASE {"IF EXISTS " if action == "DROP" else ""}"{name}"')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def embedded_server(request, tmp_path_factory, detector_checkpoint):
    root = tmp_path_factory.mktemp(f"embedded-{request.param}")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "aiornot_site.settings",
        "AIORNOT_DATA_DIR": str(root / "data"),
        "AIORNOT_MEDIA_ROOT": str(root / "media"),
        "AIORNOT_DETECTOR_CHECKPOINT": str(detector_checkpoint),
        "AIORNOT_HEATMAPS": "0",
        "AIORNOT_RATE_LIMITS": "0",
        # Every image goes to people, so the uploads make review cases.
        "AIORNOT_LIKELY_HUMAN_THRESHOLD": "0",
        "AIORNOT_LIKELY_AI_THRESHOLD": "1e-12",
        # A tiny queue: a burst overflows it, and the sweeper must pick up what did not fit.
        "AIORNOT_SCORING_QUEUE_SIZE": "3",
        "AIORNOT_SWEEP_PENDING_EVERY_SECONDS": "1",
        "AIORNOT_SWEEP_PENDING_AFTER_SECONDS": "2",
        "AIORNOT_TORCH_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        **CLIENT_TIMEOUTS,
    })
    database = None
    if request.param == "postgresql":
        if _postgres_admin_url() is None:
            if REQUIRE_SERVICES:
                pytest.fail("AIORNOT_REQUIRE_SERVICES=1 but DATABASE_URL is not a PostgreSQL URL")
            pytest.skip("PostgreSQL not configured (DATABASE_URL)")
        database = f"aiornot_live_{uuid.uuid4().hex[:10]}"
        _postgres_database(database, "CREATE")
        env["DATABASE_URL"] = urlparse(_postgres_admin_url())._replace(path=f"/{database}").geturl()
        env["DATABASE_CONN_MAX_AGE"] = "0"
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True, timeout=300)
    seeded = subprocess.run([*manage, "shell", "-c", SEED_USERS], cwd=REPO, env=env, check=True, timeout=120,
                            capture_output=True, text=True)
    tokens = json.loads(seeded.stdout.split("TOKENS=")[-1])
    port = _free_port()
    log = root / "web.log"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "aiornot_site.wsgi", "--config", "aiornot_site/gunicorn_conf.py",
         "--bind", f"127.0.0.1:{port}"],
        cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = EmbeddedServer(f"http://127.0.0.1:{port}", port, tokens, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if server.call("GET", "/api/v1/review/queue/", tokens["rita"], timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if web.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("gunicorn did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.3)
        _open_cases(server, 1, first_seed=4000)  # ready: the model is loaded and scoring works
        yield server
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            try:
                web.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(web.pid, signal.SIGKILL)
        if database:
            _postgres_database(database, "DROP")


def _open_cases(server: EmbeddedServer, count: int, first_seed: int) -> None:
    """Upload `count` new images and wait until they are scored (each opens a review case)."""
    ids = []
    for seed in range(first_seed, first_seed + count):
        status, body = server.upload(image_bytes("PNG", size=(72, 72), seed=seed), f"case{seed}.png")
        assert status == 201, body
        ids.append(body["id"])
    scored = server.wait_scored(ids)
    assert all(body["status"] == "scored" for body in scored.values()), scored


def test_a_burst_of_uploads_is_all_scored_and_nothing_is_lost(embedded_server):
    clients, per_client = 8, 5
    images = {i: image_bytes("PNG", size=(80, 80), seed=5000 + i) for i in range(clients * per_client)}
    answers, lock = [], threading.Lock()

    def client(first: int):
        for i in range(first, clients * per_client, clients):
            started = time.monotonic()
            status, body = embedded_server.upload(images[i], f"burst{i}.png")
            with lock:
                answers.append((status, body, time.monotonic() - started))

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))

    assert [status for status, _, _ in answers] == [201] * len(images), [a[:2] for a in answers if a[0] != 201][:3]
    # Uploads return at once: scoring happens in the background, so most answers still say pending.
    assert sum(body["status"] == "pending" for _, body, _ in answers) >= len(images) // 2
    scored = embedded_server.wait_scored([body["id"] for _, body, _ in answers])
    assert sorted(body["status"] for body in scored.values()) == ["scored"] * len(images)
    assert embedded_server.server_errors_logged() == []
    log = embedded_server.log.read_text()
    if "stay pending for the sweeper" in log:  # the 3-job queue overflowed (it nearly always does)
        assert "Sweeper re-queued" in log


def test_concurrent_decisions_on_one_case_give_one_decision_and_no_server_error(embedded_server):
    _open_cases(embedded_server, 1, first_seed=6000)
    token = embedded_server.tokens["ravi"]
    status, case = embedded_server.call("POST", "/api/v1/review/claim/", token)
    assert status == 200, case
    barrier = threading.Barrier(8)

    def decide(_):
        barrier.wait()
        return embedded_server.call(
            "POST", f"/api/v1/review/cases/{case['id']}/decision/", token,
            json.dumps({"decision": "ai", "reason_codes": []}).encode(), "application/json",
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(decide, range(8)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 7, results
    assert {body["error"]["code"] for status, body in results if status == 409} <= {
        "case_already_decided", "case_not_claimed"}
    assert embedded_server.server_errors_logged() == []


def test_one_reviewer_claiming_twice_at_once_holds_one_case(embedded_server):
    _open_cases(embedded_server, 3, first_seed=7000)
    token = embedded_server.tokens["rita"]
    status, queue = embedded_server.call("GET", "/api/v1/review/queue/", token)
    assert status == 200 and queue["held_case"] is None, queue
    barrier = threading.Barrier(8)

    def claim(_):
        barrier.wait()
        return embedded_server.call("POST", "/api/v1/review/claim/", token)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, range(8)))
    assert [status for status, _ in results] == [200] * 8, results
    claimed = {body["id"] for _, body in results}
    assert len(claimed) == 1, f"one reviewer holds {len(claimed)} cases: {sorted(claimed)}"
    status, queue = embedded_server.call("GET", "/api/v1/review/queue/", token)
    assert queue["held_case"]["id"] in claimed


def _slow_client(port: int, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(first_bytes)
    return sock


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_clients_that_stop_halfway_through_a_request_do_not_stop_the_server(embedded_server):
    port, token = embedded_server.port, embedded_server.tokens["rita"]
    # Four clients stop in the middle of their headers, two in the middle of a POST body.
    half_headers = b"GET /api/v1/review/queue/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"
    half_body = (b"POST /api/v1/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100000\r\n\r\n{\"username\": \"")
    slow = [_slow_client(port, half_headers) for _ in range(4)] + [_slow_client(port, half_body) for _ in range(2)]
    try:
        time.sleep(0.5)  # every slow connection has been handed to a server thread by now
        for _ in range(5):
            started = time.monotonic()
            status, body = embedded_server.call("GET", "/api/v1/review/queue/", token, timeout=10)
            assert status == 200, body
            assert time.monotonic() - started < 3.0, "the server answered late while slow clients were connected"
        # The slow clients are cut off after the header / body limits (3 s / 5 s here).
        assert all(_closed_by_server(sock, within=10) for sock in slow)
    finally:
        for sock in slow:
            sock.close()
    assert embedded_server.server_errors_logged() == []
