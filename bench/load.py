#!/usr/bin/env python3
"""Loopback load test: gunicorn + celery workers on PostgreSQL and Redis, driven over HTTP.

Starts the real processes on this machine, submits N distinct images through the REST API
from C concurrent clients, polls each result until it is scored, and prints: sustained
submissions per second (accepted) and scored per second, p50/p95 latency of the submit and
result endpoints (and the ratio against the same requests made one at a time before the load,
measured in the same run), errors, lost submissions (not scored before the deadline, or
missing), and the peak memory (RSS) of every web and worker process.

    .venv/bin/python bench/load.py                          # 2,000 submissions, 8 clients
    .venv/bin/python bench/load.py --submissions 200 --quick

Needs PostgreSQL (DATABASE_URL's server; a database `aiornot_load` is created and dropped)
and Redis (the broker). Rate limits are off for the run (one API user sends everything).

Burst mode, against the embedded default as `scripts/run.sh` serves it (SQLite file, gunicorn
with aiornot_site/gunicorn_conf.py, scoring in the web process's background thread, the app's
default settings and model, rate limits on): C clients, each its own submitter, upload U images
each as fast as they can; every submission must be scored with 0 lost and 0 5xx. Prints the
upload latency and the time from upload to verdict (p50/p95), and exits 1 on any loss or 5xx.

    .venv/bin/python bench/load.py --burst                  # 8 clients x 50 uploads
    .venv/bin/python bench/load.py --burst --clients 4 --uploads-per-client 10
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import urllib3
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_png(seed: int, size: int = 160) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size))
    pixels = image.load()
    base = [rng.randrange(256) for _ in range(3)]
    for y in range(size):
        for x in range(size):
            pixels[x, y] = tuple((base[c] + x * (c + 1) + y * (3 - c) + rng.randrange(24)) % 256 for c in range(3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    out = []
    try:
        for entry in Path(f"/proc/{pid}/task").iterdir():
            text = (entry / "children").read_text().split()
            out.extend(int(x) for x in text)
    except OSError:
        pass
    return out


class MemoryWatch(threading.Thread):
    """Peak RSS per process of each role, sampled every 0.5 s."""

    def __init__(self, roots: dict[str, int]):
        super().__init__(daemon=True)
        self.roots = roots
        self.peaks: dict[str, dict[int, float]] = {role: {} for role in roots}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for role, root in self.roots.items():
                for pid in [root, *children(root)]:
                    value = rss_mib(pid)
                    if value:
                        self.peaks[role][pid] = max(self.peaks[role].get(pid, 0.0), value)
            self.stop.wait(0.5)


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--heatmaps", action="store_true", help="store a heatmap per image (about 8 scores' work each)")
    parser.add_argument("--deadline", type=float, default=1800.0, help="seconds to wait for every result")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--quick", action="store_true", help="fewer baseline requests")
    parser.add_argument("--burst", action="store_true", help="burst mode against the embedded default (see above)")
    parser.add_argument("--uploads-per-client", type=int, default=50, help="burst mode: uploads per client")
    args = parser.parse_args()
    if args.burst:
        return burst_main(args)

    data_dir = Path(tempfile.mkdtemp(prefix="aiornot-load-"))
    port = free_port()
    database = f"{args.postgres.rstrip('/')}/aiornot_load"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiornot_site.settings",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": args.broker,
        "AIORNOT_DATA_DIR": str(data_dir),
        "AIORNOT_RATE_LIMITS": "0",
        "AIORNOT_HEATMAPS": "1" if args.heatmaps else "0",
        "AIORNOT_TORCH_THREADS": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN": "0.1",
    }
    admin = subprocess.run(
        ["psql", args.postgres + "/postgres", "-qc", "DROP DATABASE IF EXISTS aiornot_load", "-c", "CREATE DATABASE aiornot_load"],
        capture_output=True, text=True,
    )
    if admin.returncode:
        print(f"cannot create the database: {admin.stderr.strip()}", file=sys.stderr)
        return 2
    subprocess.run(["redis-cli", "-u", args.broker, "FLUSHDB"], capture_output=True)

    def manage(*cmd):
        return subprocess.run([PYTHON, "manage.py", *cmd], cwd=ROOT, env=env, check=True, capture_output=True, text=True)

    print("migrating ...", flush=True)
    manage("migrate", "--noinput")
    manage("add_user", "loadtest", "--role", "submitter", "--password", "load-test-password-1")
    token = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c",
         "from rest_framework.authtoken.models import Token; from django.contrib.auth.models import User; "
         "print(Token.objects.get_or_create(user=User.objects.get(username='loadtest'))[0].key)"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]

    logs = data_dir / "logs"
    logs.mkdir()
    web = subprocess.Popen(
        [str(Path(PYTHON).parent / "gunicorn"), "aiornot_site.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.web_workers), "--timeout", "120"],
        cwd=ROOT, env=env, stdout=open(logs / "web.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    worker = subprocess.Popen(
        [str(Path(PYTHON).parent / "celery"), "-A", "aiornot_site", "worker", "--concurrency",
         str(args.worker_concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    watch = MemoryWatch({"web": web.pid, "worker": worker.pid})
    watch.start()
    http = urllib3.PoolManager(maxsize=args.clients + 4, headers={"Authorization": f"Token {token}"})
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(120):
            try:
                if http.request("GET", f"{base}/submissions/", timeout=2).status == 200:
                    break
            except Exception:
                pass
            time.sleep(0.5)
        else:
            print("the web server did not start; see", logs / "web.log", file=sys.stderr)
            return 2

        print("making images ...", flush=True)
        baseline_n = 10 if args.quick else 30
        images = [image_png(seed) for seed in range(args.submissions + baseline_n)]

        def submit(data: bytes, name: str):
            started = time.perf_counter()
            response = http.request("POST", f"{base}/submissions/", fields={"image": (name, data, "image/png")}, timeout=60)
            return time.perf_counter() - started, response.status, (json.loads(response.data) if response.status == 201 else None)

        def result(sid: int):
            started = time.perf_counter()
            response = http.request("GET", f"{base}/submissions/{sid}/", timeout=60)
            return time.perf_counter() - started, response.status, (json.loads(response.data) if response.status == 200 else None)

        # Baseline: the same requests one at a time on the idle system.
        base_submit, base_result = [], []
        for i in range(baseline_n):
            seconds, status_code, body = submit(images[args.submissions + i], f"baseline{i}.png")
            base_submit.append(seconds)
            if body:
                base_result.append(result(body["id"])[0])
        time.sleep(2)

        print(f"loading: {args.submissions} submissions from {args.clients} clients ...", flush=True)
        submit_times, errors, ids = [], [], []
        lock = threading.Lock()
        started = time.perf_counter()

        def one(i: int):
            try:
                seconds, status_code, body = submit(images[i], f"load{i}.png")
            except Exception as exc:
                with lock:
                    errors.append(f"submit {i}: {type(exc).__name__}")
                return
            with lock:
                submit_times.append(seconds)
                if status_code == 201:
                    ids.append(body["id"])
                else:
                    errors.append(f"submit {i}: HTTP {status_code}")

        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(one, range(args.submissions)))
        accept_seconds = time.perf_counter() - started

        result_times, pending, scored_at = [], set(ids), {}
        deadline = time.perf_counter() + args.deadline
        while pending and time.perf_counter() < deadline:
            batch = list(pending)[: args.clients * 8]

            def poll(sid):
                try:
                    seconds, status_code, body = result(sid)
                except Exception as exc:
                    return sid, None, f"{type(exc).__name__}"
                return sid, (seconds, status_code, body), None

            with ThreadPoolExecutor(args.clients) as pool:
                for sid, outcome, error in pool.map(poll, batch):
                    if error:
                        errors.append(f"result {sid}: {error}")
                        continue
                    seconds, status_code, body = outcome
                    result_times.append(seconds)
                    if status_code != 200:
                        errors.append(f"result {sid}: HTTP {status_code}")
                    elif body["status"] == "scored":
                        pending.discard(sid)
                        scored_at[sid] = time.perf_counter()
                    elif body["status"] == "failed":
                        pending.discard(sid)
                        errors.append(f"result {sid}: scoring failed: {body['failure_reason'][:80]}")
            if pending:
                time.sleep(1.0)
        total_seconds = (max(scored_at.values()) if scored_at else time.perf_counter()) - started
        watch.stop.set()
        watch.join()
    finally:
        for process in (web, worker):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in (web, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    stored = subprocess.run(
        ["psql", database, "-Atc", "SELECT status, count(*) FROM detector_submission GROUP BY status ORDER BY 1"],
        capture_output=True, text=True,
    ).stdout.split()
    subprocess.run(["psql", args.postgres + "/postgres", "-qc", "DROP DATABASE IF EXISTS aiornot_load"], capture_output=True)
    shutil.rmtree(data_dir, ignore_errors=True)

    ms = lambda s: f"{1000 * s:.0f} ms"  # noqa: E731
    print()
    print(f"machine        {os.cpu_count()} cores; web: gunicorn x{args.web_workers}; worker: celery, concurrency "
          f"{args.worker_concurrency}; PostgreSQL + Redis on loopback; heatmaps {'on' if args.heatmaps else 'off'}")
    print(f"submissions    {args.submissions} sent by {args.clients} clients; accepted {len(ids)}; scored {len(scored_at)}")
    print(f"throughput     {len(ids) / accept_seconds:.1f} submissions/s accepted (over {accept_seconds:.0f} s); "
          f"{len(scored_at) / total_seconds:.2f} scored/s end to end (over {total_seconds:.0f} s)")
    print(f"submit         p50 {ms(percentile(submit_times, .5))}, p95 {ms(percentile(submit_times, .95))} under load; "
          f"one at a time p50 {ms(statistics.median(base_submit))} -> x{percentile(submit_times, .5) / statistics.median(base_submit):.1f}")
    if result_times and base_result:
        print(f"result         p50 {ms(percentile(result_times, .5))}, p95 {ms(percentile(result_times, .95))} under load; "
              f"one at a time p50 {ms(statistics.median(base_result))} -> x{percentile(result_times, .5) / statistics.median(base_result):.1f}")
    print(f"errors         {len(errors)}" + (f" (first: {errors[:3]})" if errors else ""))
    print(f"lost           {len(set(ids) - set(scored_at))} accepted but not scored before the deadline; "
          f"database: {' '.join(stored)}")
    for role, peaks in watch.peaks.items():
        values = sorted(peaks.values(), reverse=True)
        print(f"memory {role:7} peak RSS per process (MiB): {', '.join(f'{v:.0f}' for v in values)}")
    return 0 if not errors and len(scored_at) == len(ids) == args.submissions else 1


BURST_SEED_USERS = """
import json
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
tokens = []
for i in range(%d):
    user = User.objects.create_user(f"burst{i}", password=None)
    user.groups.add(Group.objects.get(name="submitters"))
    tokens.append(Token.objects.create(user=user).key)
print("TOKENS=" + json.dumps(tokens))
"""


def _seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def burst_main(args) -> int:
    """C clients x U uploads against `scripts/run.sh`'s server; every one must be scored."""
    data_dir = Path(tempfile.mkdtemp(prefix="aiornot-burst-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "aiornot_site.settings", "AIORNOT_DATA_DIR": str(data_dir),
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"})
    print("migrating ...", flush=True)
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run([PYTHON, "manage.py", "shell", "-c", BURST_SEED_USERS % args.clients], cwd=ROOT, env=env,
                            check=True, capture_output=True, text=True)
    tokens = json.loads(seeded.stdout.split("TOKENS=")[-1])
    log = data_dir / "web.log"
    web = subprocess.Popen(
        [str(Path(PYTHON).parent / "gunicorn"), "aiornot_site.wsgi", "--config", "aiornot_site/gunicorn_conf.py",
         "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    watch = MemoryWatch({"web": web.pid})
    watch.start()
    http = urllib3.PoolManager(maxsize=args.clients * 2 + 4)
    base = f"http://127.0.0.1:{port}/api/v1"
    total = args.clients * args.uploads_per_client
    upload_times, statuses, accepted, errors = [], [], {}, []
    lock = threading.Lock()
    try:
        for _ in range(240):
            try:
                if http.request("GET", f"{base}/submissions/", headers={"Authorization": f"Token {tokens[0]}"},
                                timeout=2).status == 200:
                    break
            except Exception:
                pass
            time.sleep(0.5)
        else:
            print("the web server did not start; see", log, file=sys.stderr)
            return 2
        print(f"making {total} images ...", flush=True)
        images = [image_png(100_000 + seed) for seed in range(total)]

        def client(c: int):
            headers = {"Authorization": f"Token {tokens[c]}"}
            for k in range(args.uploads_per_client):
                i = c * args.uploads_per_client + k
                started = time.perf_counter()
                try:
                    response = http.request("POST", f"{base}/submissions/", headers=headers, timeout=120,
                                            fields={"image": (f"burst{i}.png", images[i], "image/png")})
                except Exception as exc:
                    with lock:
                        errors.append(f"upload {i}: {type(exc).__name__}")
                    continue
                with lock:
                    upload_times.append(time.perf_counter() - started)
                    statuses.append(response.status)
                    if response.status == 201:
                        accepted[json.loads(response.data)["id"]] = c
                    else:
                        errors.append(f"upload {i}: HTTP {response.status}")

        print(f"burst: {args.clients} clients x {args.uploads_per_client} uploads ...", flush=True)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client, range(args.clients)))
        burst_seconds = time.perf_counter() - started

        verdict_seconds, pending = {}, set(accepted)
        deadline = time.perf_counter() + args.deadline
        while pending and time.perf_counter() < deadline:
            for sid in list(pending):
                response = http.request("GET", f"{base}/submissions/{sid}/", timeout=60,
                                        headers={"Authorization": f"Token {tokens[accepted[sid]]}"})
                statuses.append(response.status)
                if response.status != 200:
                    errors.append(f"result {sid}: HTTP {response.status}")
                    continue
                body = json.loads(response.data)
                if body["status"] == "scored":
                    verdict_seconds[sid] = _seconds_between(body["created_at"], body["score"]["scored_at"])
                    pending.discard(sid)
                elif body["status"] == "failed":
                    errors.append(f"result {sid}: scoring failed: {body['failure_reason'][:80]}")
                    pending.discard(sid)
            if pending:
                time.sleep(1.0)
        all_seconds = time.perf_counter() - started
        watch.stop.set()
        watch.join()
    finally:
        try:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(web.pid, signal.SIGKILL)

    with sqlite3.connect(data_dir / "db.sqlite3") as db:
        stored = db.execute("SELECT status, count(*) FROM detector_submission GROUP BY status ORDER BY 1").fetchall()
    server_errors = sum(1 for line in log.read_text().splitlines() if '" 5' in line and "HTTP/1." in line)
    lost = len(set(accepted) - set(verdict_seconds))
    fives = sum(1 for status in statuses if status >= 500)
    verdicts = list(verdict_seconds.values())
    ms = lambda s: f"{1000 * s:.0f} ms"  # noqa: E731
    print()
    print(f"machine        {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; embedded default: SQLite, "
          f"gunicorn (aiornot_site/gunicorn_conf.py), scoring in the web process")
    print(f"uploads        {total} sent by {args.clients} clients; accepted {len(accepted)}; scored {len(verdicts)}; "
          f"burst took {burst_seconds:.0f} s; all scored after {all_seconds:.0f} s")
    print(f"upload         p50 {ms(percentile(upload_times, .5))}, p95 {ms(percentile(upload_times, .95))} (request time)")
    print(f"to verdict     p50 {percentile(verdicts, .5):.1f} s, p95 {percentile(verdicts, .95):.1f} s, "
          f"max {max(verdicts, default=float('nan')):.1f} s (created_at -> scored_at)")
    print(f"5xx            {fives} seen by clients, {server_errors} in the access log")
    print(f"errors         {len(errors)}" + (f" (first: {errors[:3]})" if errors else ""))
    print(f"lost           {lost}; database: {' '.join(f'{s}={n}' for s, n in stored)}")
    for role, peaks in watch.peaks.items():
        print(f"memory {role:7} peak RSS per process (MiB): {', '.join(f'{v:.0f}' for v in sorted(peaks.values(), reverse=True))}")
    shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if not errors and not fives and not server_errors and not lost and len(accepted) == total else 1


if __name__ == "__main__":
    sys.exit(main())
