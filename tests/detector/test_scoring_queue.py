"""The embedded mode's in-process scoring queue: bounded, no id queued twice, collisions retried,
the sweeper run on schedule (plain functions stand in for scoring; the live server test in
tests/integration/test_embedded_server_under_load.py runs the real thing)."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.db import OperationalError

from detector import scoring_queue
from detector.scoring_queue import InProcessScoringQueue


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def started():
    queues = []

    def start(score_many, sweep=lambda: 0, max_jobs=10, sweep_every_seconds=60):
        q = InProcessScoringQueue()
        q.start(score_many=score_many, sweep=sweep, max_jobs=max_jobs, sweep_every_seconds=sweep_every_seconds)
        queues.append(q)
        return q

    yield start
    for q in queues:
        q.stop()


def test_queued_ids_are_scored_in_batches_and_never_queued_twice(started):
    scored, gate = [], threading.Event()

    def score(ids):
        gate.wait(5)
        scored.append(list(ids))

    q = started(score)
    assert q.offer([1]) and q.offer([2, 3]) and q.offer([2, 3])  # the repeat is accepted, not queued
    gate.set()
    assert _wait_for(lambda: q.waiting() == 0)
    assert sorted(i for batch in scored for i in batch) == [1, 2, 3]


def test_a_full_queue_refuses_without_waiting(started):
    gate = threading.Event()
    q = started(lambda ids: gate.wait(5), max_jobs=1)
    q.offer([1])
    assert _wait_for(lambda: q._jobs.empty())  # the thread holds job 1
    assert q.offer([2]) is True
    started_at = time.monotonic()
    assert q.offer([3]) is False  # full: left pending for the sweeper
    assert time.monotonic() - started_at < 0.5
    gate.set()


def test_a_job_that_collides_with_another_write_is_tried_again(started, monkeypatch):
    monkeypatch.setattr(scoring_queue, "JOB_RETRY_WAITS", (0.01, 0.01, 0.01))
    attempts = []

    def score(ids):
        attempts.append(ids)
        if len(attempts) < 3:
            raise OperationalError("database is locked")

    q = started(score)
    q.offer([7])
    assert _wait_for(lambda: len(attempts) == 3 and q.waiting() == 0)


def test_the_sweeper_runs_on_schedule(started):
    sweeps = []
    started(lambda ids: None, sweep=lambda: sweeps.append(time.monotonic()) or 0, sweep_every_seconds=0.5)
    assert _wait_for(lambda: len(sweeps) >= 2, timeout=5)


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="thread priorities are a Linux feature")
def test_the_scoring_thread_yields_the_cpu_to_request_threads():
    """Scoring (and a large image's heatmap) runs below the request threads' priority, and so do the
    threads it starts (torch's workers), so an upload is answered at once while it works."""
    here = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, here)
    seen = {}

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def score(ids):
        seen["scorer"] = nice()
        child = threading.Thread(target=lambda: seen.setdefault("child", nice()))
        child.start()
        child.join()

    q = InProcessScoringQueue()
    q.start(score_many=score, sweep=lambda: 0, max_jobs=10, sweep_every_seconds=60, niceness=5)
    try:
        q.offer([1])
        assert _wait_for(lambda: "child" in seen)
    finally:
        q.stop()
    assert seen == {"scorer": min(19, before + 5), "child": min(19, before + 5)}
    assert os.getpriority(os.PRIO_PROCESS, here) == before  # the request threads keep theirs
