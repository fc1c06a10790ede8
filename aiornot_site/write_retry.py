"""Short database writes that collide are tried again, a few times, after a short wait.

SQLite has one writer at a time: past its busy timeout a write fails with "database is
locked". PostgreSQL may pick a transaction as the victim of a deadlock or a serialization
conflict. Either way the transaction was rolled back whole, so running it again is safe.
A retry only makes sense around a whole transaction: inside an outer one the error is raised
at once (the outer transaction is broken and must be retried by its own caller).
"""

from __future__ import annotations

import functools
import logging
import random
import time

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

# PostgreSQL SQLSTATEs that mean "try the transaction again": serialization_failure, deadlock_detected.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}
WRITE_ATTEMPTS = 5
FIRST_WAIT_SECONDS = 0.05


def is_write_collision(exc: BaseException) -> bool:
    """Whether the error is a lock or conflict that a later attempt can get past."""
    if not isinstance(exc, OperationalError):
        return False
    if "locked" in str(exc).lower():  # SQLite: database is locked / database table is locked
        return True
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in _RETRYABLE_SQLSTATES


def retry_write_collisions(function=None, *, attempts: int = WRITE_ATTEMPTS):
    """Decorator: run the function again (up to ``attempts`` times, waiting 50 ms, 100 ms, ...
    with jitter) when it fails with a write collision outside any transaction."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for attempt in range(1, attempts + 1):
                try:
                    return fn(*args, **kwargs)
                except OperationalError as exc:
                    if attempt == attempts or connection.in_atomic_block or not is_write_collision(exc):
                        raise
                    wait = FIRST_WAIT_SECONDS * 2 ** (attempt - 1) * (0.5 + random.random())
                    logger.warning("%s: write collision (%s); attempt %d of %d in %.2f s",
                                   fn.__qualname__, exc, attempt + 1, attempts, wait)
                    time.sleep(wait)
            raise AssertionError("unreachable")

        return wrapper

    return decorate(function) if function is not None else decorate
