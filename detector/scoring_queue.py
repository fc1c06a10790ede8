"""The embedded mode's scoring worker: a bounded in-memory queue and one thread in the web process.

Without a broker, the web process scores images itself. Doing it inside the request would hold a
server thread for seconds per upload and lose the work when the request's retries ran out; here
an upload only puts the submission's id on this queue and returns, and one background thread
scores queued ids in batches. Nothing is lost when something goes wrong:

- the queue is bounded: when it is full the submission simply stays ``pending`` in the database;
- a job that fails with a write collision is retried with back-off, then left pending;
- the same thread runs the sweeper every few seconds (``sweep``), which puts back on the queue
  every submission pending for longer than AIORNOT_SWEEP_PENDING_AFTER_SECONDS, including those
  left by the two cases above or by a restart of the process.

An id already waiting or being scored is not queued twice. Scoring itself is idempotent.

The thread runs at a lower CPU priority than the request threads (``niceness``, Linux nice values
are per thread and inherited by the threads it starts, such as torch's OpenMP workers): scoring,
and above all drawing a heatmap, takes seconds of both cores, and an upload that arrives meanwhile
must not wait for the CPU behind it.
The thread is started by the WSGI/ASGI entry points (aiornot_site/wsgi.py), so management
commands and the test client keep scoring inline, as before.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from django.db import OperationalError, close_old_connections, connections

from aiornot_site.write_retry import is_write_collision

logger = logging.getLogger(__name__)

# How many ids one scoring run takes from the queue at most (batched inference).
BATCH_IDS = 16
# A job that keeps colliding is retried after 1, 2, 4, 8 s, then left to the sweeper.
JOB_RETRY_WAITS = (1.0, 2.0, 4.0, 8.0)


class InProcessScoringQueue:
    """A bounded queue of submission ids and the one thread that scores them."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[list[int]] | None = None
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._score_many: Callable[[list[int]], object] | None = None
        self._sweep: Callable[[], int] | None = None
        self._warm_up: Callable[[], object] | None = None
        self._sweep_every = 60.0
        self._niceness = 0

    def start(self, *, score_many: Callable[[list[int]], object], sweep: Callable[[], int],
              max_jobs: int, sweep_every_seconds: float, warm_up: Callable[[], object] | None = None,
              niceness: int = 0) -> bool:
        """Start the worker thread (once per process); False when it already runs.

        ``warm_up`` (loading the model) runs first in the thread, so the first upload does not wait for it.
        ``niceness`` (0-19) lowers the thread's CPU priority below the request threads'.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._jobs = queue.Queue(maxsize=max(1, max_jobs))
            self._queued = set()
            self._score_many, self._sweep, self._warm_up = score_many, sweep, warm_up
            self._sweep_every = max(0.5, float(sweep_every_seconds))
            self._niceness = max(0, int(niceness))
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="aiornot-scoring", daemon=True)
            self._thread.start()
        logger.info("In-process scoring thread started (queue of %d jobs, sweep every %.0f s)",
                    max_jobs, self._sweep_every)
        return True

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after its current job (queued ids stay pending in the database)."""
        self._stop.set()
        if self._thread is not None:
            try:
                self._jobs.put_nowait([])  # wake the thread if it waits for a job
            except queue.Full:
                pass  # it is busy and sees the stop after its current job
            self._thread.join(timeout)

    def offer(self, submission_ids: list[int]) -> bool:
        """Queue ids for scoring without waiting; False when the queue is full (they stay pending)."""
        with self._lock:
            fresh = [sid for sid in submission_ids if sid not in self._queued]
            if not fresh:
                return True
            try:
                self._jobs.put_nowait(fresh)
            except queue.Full:
                logger.warning("Scoring queue full: %d submission(s) stay pending for the sweeper", len(fresh))
                return False
            self._queued.update(fresh)
        return True

    def waiting(self) -> int:
        """How many ids are queued or being scored."""
        with self._lock:
            return len(self._queued)

    def _run(self) -> None:
        lower_thread_priority(self._niceness)  # before any torch call: its worker threads inherit it
        if self._warm_up is not None:
            self._call_safely(self._warm_up)
        next_sweep = time.monotonic() + self._sweep_every
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=max(0.05, next_sweep - time.monotonic()))
            except queue.Empty:
                job = None
            if job and not self._stop.is_set():
                ids = self._take_more(job)
                self._score(ids)
                with self._lock:
                    self._queued.difference_update(ids)
            if time.monotonic() >= next_sweep:
                self._call_safely(self._sweep)
                next_sweep = time.monotonic() + self._sweep_every

    def _take_more(self, ids: list[int]) -> list[int]:
        """Add waiting jobs to this run, up to BATCH_IDS ids (one batched inference)."""
        ids = list(ids)
        while len(ids) < BATCH_IDS:
            try:
                ids.extend(self._jobs.get_nowait())
            except queue.Empty:
                break
        return ids

    def _score(self, ids: list[int]) -> None:
        for wait in (*JOB_RETRY_WAITS, None):
            try:
                self._call(self._score_many, ids)
                return
            except OperationalError as exc:
                if not is_write_collision(exc) or wait is None:
                    logger.exception("Scoring %d submission(s) failed; they stay pending for the sweeper", len(ids))
                    return
                logger.warning("Scoring collided with another write (%s); again in %.0f s", exc, wait)
                if self._stop.wait(wait):
                    return
            except Exception:
                logger.exception("Scoring %d submission(s) failed; they stay pending for the sweeper", len(ids))
                return

    def _call_safely(self, function, *args) -> None:
        try:
            self._call(function, *args)
        except Exception:
            logger.exception("In-process %s failed", getattr(function, "__name__", "job"))

    @staticmethod
    def _call(function, *args):
        """Run with fresh database connections, closed afterwards (this thread's own)."""
        close_old_connections()
        try:
            return function(*args)
        finally:
            connections.close_all()


def lower_thread_priority(niceness: int) -> bool:
    """Raise the calling thread's nice value by ``niceness`` (at most to 19), so that it and the
    threads it starts from now on yield the CPU to the process's other threads. Linux keeps nice
    values per thread; elsewhere, or when refused, nothing changes (False)."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + niceness))
    except OSError:
        logger.warning("Could not lower the scoring thread's CPU priority", exc_info=True)
        return False
    return True


# One per process: the web process's scoring worker in the embedded mode.
in_process_scoring = InProcessScoringQueue()
