"""On a real Celery worker (Redis or RabbitMQ, PostgreSQL) a failed delivery is retried by Celery.

Skipped unless the services are configured (see tests/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from webhooks import services
from webhooks.models import WebhookDelivery

REPO = Path(__file__).resolve().parents[2]
BROKERS = [u for u in os.environ.get("AIORNOT_TEST_BROKER_URL", "").split() if u] or ["redis://unset"]

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.parametrize("broker", BROKERS, ids=lambda u: u.split(":")[0])
def test_a_worker_retries_a_failed_delivery_after_the_back_off(
    broker, register, decide_case, submitter, receiver, monkeypatch, tmp_path
):
    queue = f"aiornot-test-{uuid.uuid4().hex[:8]}"
    sender = Celery("webhook-test", broker=broker, set_as_current=False)
    monkeypatch.setattr(
        services,
        "delivery_enqueue",
        lambda *, delivery_id: sender.send_task("webhooks.deliver", args=[delivery_id], queue=queue),
    )
    endpoint = register(submitter, receiver.url)
    receiver.statuses = [500]

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiornot_site.settings",
        "DATABASE_URL": _database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "AIORNOT_DATA_DIR": str(tmp_path / "data"),
        "AIORNOT_URL_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32",
        "AIORNOT_WEBHOOK_RETRY_BASE_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "aiornot_site", "worker", "--pool=solo", "--concurrency=1",
         "-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
        cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        decide_case(submitter)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(receiver.requests) < 2:
            assert worker.poll() is None, log.read_text()[-4000:]
            time.sleep(0.5)
        time.sleep(1)
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200), (
            log.read_text()[-4000:]
        )
        first, second = delivery.attempt_log
        assert (first["status_code"], second["status_code"]) == (500, 200)
        assert len(receiver.requests) == 2
        assert receiver.requests[0].headers["X-Aiornot-Delivery"] == receiver.requests[1].headers["X-Aiornot-Delivery"]
        assert "retry" in log.read_text().lower()
        assert endpoint["id"] == delivery.endpoint_id
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        connection.close()
