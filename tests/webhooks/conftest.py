"""A real HTTP receiver on 127.0.0.1, a decided review case, and endpoint registration."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from detector.services import submission_create
from reviews.models import ReviewCase
from reviews.services import case_claim_next, case_decide
from webhooks.services import webhooks_case_finalized


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every request; answers with ``statuses`` in turn (then ``default_status``)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    delay_seconds: float = 0.0

    def answer(self) -> int:
        return self.statuses.pop(0) if self.statuses else self.default_status


@pytest.fixture
def receiver(settings):
    """A real http.server in a thread; 127.0.0.1 is allowed as the administrator would allow it."""
    settings.AIORNOT_URL_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
                status = state.answer()
            if state.delay_seconds:
                time.sleep(state.delay_seconds)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/aiornot?source=test"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def register(api_for):
    """Register a callback URL through the API, as an integrator would; returns the response body."""

    def make(user, url: str, **extra) -> dict:
        response = api_for(user).post("/api/v1/webhooks/", {"url": url, **extra}, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


@pytest.fixture
def decide_case(settings, reviewer, png):
    """Submit an image (by one or more users), have a reviewer decide its case, and finalise it."""
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0

    def make(*submitters, seed: int = 0) -> ReviewCase:
        data = png(seed=seed)
        submissions = [submission_create(user=user, data=data) for user in submitters]
        case = ReviewCase.objects.get(asset_id=submissions[0].asset_id)
        claimed = case_claim_next(reviewer=reviewer)
        assert claimed.pk == case.pk
        case_decide(case_id=case.pk, reviewer=reviewer, decision="human", note="visible brush strokes")
        # The review code calls this on commit; calling it again must change nothing.
        webhooks_case_finalized(case_id=case.pk)
        case.refresh_from_db()
        return case

    return make
