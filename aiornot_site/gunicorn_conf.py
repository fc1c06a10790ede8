"""gunicorn settings of the embedded default (`bash scripts/run.sh`).

One process (it scores uploads in a background thread and holds one copy of the model), many
threads for requests, and time limits on slow clients (aiornot_site/gunicorn_worker.py). The
address comes from the command line (`--bind`). Environment: AIORNOT_WEB_THREADS (16),
AIORNOT_CLIENT_IDLE_TIMEOUT / _HEADER_TIMEOUT / _BODY_TIMEOUT (10 / 10 / 120 s).
"""

import os

workers = 1
worker_class = "aiornot_site.gunicorn_worker.SlowClientSafeThreadWorker"
threads = int(os.environ.get("AIORNOT_WEB_THREADS") or 16)
# Open connections per process (idle kept-alive ones wait in the poller, not in a thread).
worker_connections = 1000
# The arbiter restarts a process whose main loop is stuck this long (request threads and the
# scoring thread do not count: gthread's main loop keeps reporting while they work).
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
