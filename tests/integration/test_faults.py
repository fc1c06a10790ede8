"""Faults with the real processes: a worker killed with SIGKILL in the middle of scoring, and a
broker that is down when a submission arrives. Nothing is lost and nothing is scored twice.
Skipped unless the services are configured (see conftest); .ci/run makes them run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image, ImageDraw
from rest_framework.authtoken.models import Token

from detector.models import Evidence, Submission, SubmissionEvent

from .test_celery_worker import BROKERS, REPO, _call, _free_port, _multipart, _wait_until, scale_out_env  # noqa: F401

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _big_picture() -> bytes:
    """A large image: its heatmap covers hundreds of crops, so scoring takes seconds."""
    import io

    image = Image.new("RGB", (2400, 1800), (40, 90, 150))
    draw = ImageDraw.Draw(image)
    for i in range(200):
        draw.ellipse([(i * 53) % 2400, (i * 37) % 1800, (i * 53) % 2400 + 90, (i * 37) % 1800 + 60],
                     fill=((i * 40) % 256, (i * 90) % 256, (i * 20) % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _start(cmd, env, log, **kwargs):
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True, **kwargs)


def _stop(*procs):
    for proc in procs:
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _worker_cmd(queue):
    return [sys.executable, "-m", "celery", "-A", "aiornot_site", "worker", "--concurrency=1", "-Q", queue,
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"]


@pytest.mark.parametrize("scale_out_env", BROKERS, indirect=True, ids=lambda u: u.split(":")[0])
def test_a_worker_killed_mid_task_leaves_nothing_unscored_or_scored_twice(scale_out_env, submitter, tmp_path):
    env, queue = scale_out_env
    env = {**env, "AIORNOT_HEATMAPS": "1", "CELERY_VISIBILITY_TIMEOUT": "5"}
    port = _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    web = _start([sys.executable, "-m", "gunicorn", "aiornot_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
                  "--timeout", "60"], env, logs / "web.log")
    worker = survivor = None
    try:
        base = f"http://127.0.0.1:{port}"
        token = Token.objects.create(user=submitter).key
        _wait_until(lambda: _try(lambda: _call("GET", f"{base}/api/v1/submissions/", token)[0] == 200), 60,
                    "gunicorn to start", [web])
        worker = _start(_worker_cmd(queue), env, logs / "worker.log")
        body, content_type = _multipart("image", "big.png", _big_picture())
        status, created = _call("POST", f"{base}/api/v1/submissions/", token, body, content_type)
        assert status == 201, created
        try:
            _wait_until(lambda: "] received" in (logs / "worker.log").read_text(), 60, "the worker to take the task",
                        [worker])
        except AssertionError:
            print((logs / "worker.log").read_text()[-3000:])
            raise
        time.sleep(1.0)  # in the middle of scoring (the heatmap alone takes seconds)
        assert Submission.objects.get(pk=created["id"]).status == "pending"
        os.killpg(worker.pid, signal.SIGKILL)  # no warm shutdown, no ack
        worker.wait(10)

        survivor = _start(_worker_cmd(queue), env, logs / "survivor.log")
        _wait_until(lambda: Submission.objects.get(pk=created["id"]).status == "scored", 180,
                    "another worker to score the submission after the kill", [web, survivor])
        time.sleep(3)  # a duplicate delivery, if any, would be processed by now
        submission = Submission.objects.get(pk=created["id"])
        assert Evidence.objects.filter(asset=submission.asset, kind="classifier").count() == 1
        assert SubmissionEvent.objects.filter(submission=submission, action="scored").count() == 1
    finally:
        _stop(survivor, worker, web)


def _try(fn):
    try:
        return fn()
    except OSError:
        return False


def test_a_submission_that_arrives_while_the_broker_is_down_is_scored_once_it_is_back(
    scale_out_env_redis_private, submitter, tmp_path
):
    env, redis_cmd, queue = scale_out_env_redis_private
    port = _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    web = _start([sys.executable, "-m", "gunicorn", "aiornot_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
                  "--timeout", "60"], env, logs / "web.log")
    redis = worker = beat = None
    try:
        base = f"http://127.0.0.1:{port}"
        token = Token.objects.create(user=submitter).key
        _wait_until(lambda: _try(lambda: _call("GET", f"{base}/api/v1/submissions/", token)[0] == 200), 60,
                    "gunicorn to start", [web])
        # The broker is down: the submission is stored and stays pending, with a 201.
        body, content_type = _multipart("image", "while-down.png", _big_picture()[:0] or _small_picture())
        status, created = _call("POST", f"{base}/api/v1/submissions/", token, body, content_type)
        assert status == 201 and created["status"] == "pending", created
        assert Submission.objects.get(pk=created["id"]).asset.file.size > 0

        # The broker comes back; the beat sweeper re-queues the pending submission for a worker.
        redis = _start(redis_cmd, env, logs / "redis.log")
        time.sleep(1)
        worker = _start(_worker_cmd(queue), env, logs / "worker.log")
        beat = _start([sys.executable, "-m", "celery", "-A", "aiornot_site", "beat", "--loglevel=INFO",
                       "--schedule", str(tmp_path / "beat-schedule")], env, logs / "beat.log")
        _wait_until(lambda: Submission.objects.get(pk=created["id"]).status == "scored", 120,
                    "the sweeper and the worker to score the stored submission", [web, worker, beat])
        submission = Submission.objects.get(pk=created["id"])
        assert SubmissionEvent.objects.filter(submission=submission, action="scored").count() == 1
        assert "detector.sweep_pending" in (logs / "beat.log").read_text()
    finally:
        _stop(beat, worker, redis, web)


def _small_picture() -> bytes:
    from tests.images import image_bytes

    return image_bytes("PNG", size=(200, 150), seed=99)


@pytest.fixture
def scale_out_env_redis_private(tmp_path, detector_checkpoint):
    """Like scale_out_env, with a private Redis on a free port that is not running yet."""
    from .test_celery_worker import _database_url

    if not os.environ.get("AIORNOT_TEST_BROKER_URL"):
        pytest.skip("services not configured")
    redis_port = _free_port()
    queue = f"aiornot-test-down-{redis_port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiornot_site.settings",
        "DATABASE_URL": _database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "AIORNOT_DATA_DIR": str(tmp_path / "data"),
        "AIORNOT_MEDIA_ROOT": str(tmp_path / "media"),
        "AIORNOT_DETECTOR_CHECKPOINT": str(detector_checkpoint),
        "AIORNOT_SWEEP_PENDING_EVERY_SECONDS": "2",
        "AIORNOT_SWEEP_PENDING_AFTER_SECONDS": "1",
        "AIORNOT_HEATMAPS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    redis_cmd = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(tmp_path)]
    return env, redis_cmd, queue
