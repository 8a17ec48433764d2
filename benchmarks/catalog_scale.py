"""The status view and listings at scale: 10,000 jobs across 20 instances, 1,000,000 runs.

    .venv/bin/python benchmarks/catalog_scale.py [--jobs 10000] [--runs 1000000]
        [--instances 20] [--url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--samples 50]

The catalog (a fresh SQLite file unless ``--url``; a PostgreSQL URL gets a fresh
database beside the one named) is filled directly, in bulk: jobs, runs (one in ten
failed, the newest of each job possibly running) and the latest-run index. Then,
measured against a real ``unifier`` API (uvicorn on a free port) and the real CLI:

- ``GET /api/status`` first page (100 rows): p50 / p95 (target p95 < 50 ms);
- ``GET /api/runs?state=failed`` first page: p50 / p95 (target p95 < 50 ms);
- ``GET /api/status?limit=10000``, the whole view: p50 (target < 1 s);
- ``unifier status -o json`` wall time (a new process: imports, migration check, query);
- run upserts through ``Catalog.record_runs``: new runs, then updates of them (target
  >= 20,000/s on SQLite); wall rate and CPU rate (the machine may be shared);
- resident memory of ``unifier run --listen`` over this catalog after it served the
  whole status view and a page of runs (target < 250 MB).

Trigger evaluation at scale: ``benchmarks/evaluate_triggers.py``.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from unifier.catalog import Catalog
from unifier.catalog.runs import DriverWriter
from unifier.catalog.tables import JobRow
from unifier.model import Run, RunState, utcnow

RUN_COLUMNS = ("job", "run_id", "instance", "state", "native_state", "attempt", "version", "queued_at",
               "started_at", "ended_at", "parameters", "cause", "log_url", "details", "first_seen_at",
               "updated_at")
KINDS = ("airflow", "jenkins", "kubernetes", "cron", "terraform")


def fill(catalog: Catalog, *, jobs: int, instances: int, runs: int) -> float:
    """Bulk insert; returns seconds taken."""
    began = time.perf_counter()
    now = utcnow()
    names = [f"{KINDS[i % len(KINDS)]}-{i:02d}" for i in range(instances)]
    for name in names:
        # an adapter nobody installed: `unifier run` syncs it, fails, says so, serves on
        catalog.put_instance(name, "bench-none", {"config": {}}, f"h-{name}", "bench")
    uris = [f"bench-none://{names[i % instances]}/job-{i:05d}" for i in range(jobs)]
    with catalog.engine.begin() as conn:
        conn.execute(JobRow.__table__.insert(), [{
            "uri": uri, "instance": names[i % instances], "kind": "bench-none", "native_id": f"job-{i:05d}",
            "name": f"Job {i}", "description": None, "owner": f"team-{i % 7}", "tags": [f"tier-{i % 3}"],
            "schedule": "0 * * * *", "timezone": "UTC", "paused": False, "url": None, "next_run_at": None,
            "extra": {}, "discovered_at": now, "removed_at": None} for i, uri in enumerate(uris)])
    per_job = max(1, runs // jobs)
    chunk = 50_000
    rows = []
    for n in range(runs):
        job_index, k = n % jobs, n // jobs  # round-robin: run k of every job, then k + 1
        start = now - timedelta(minutes=(per_job - k) * 60)
        state = "failed" if n % 10 == 3 else "running" if k == per_job - 1 and n % 5 == 0 else "succeeded"
        rows.append({"job": uris[job_index], "run_id": f"r{k}", "instance": names[job_index % instances],
                     "state": state, "native_state": state, "attempt": 1, "version": None,
                     "queued_at": start, "started_at": start,
                     "ended_at": None if state == "running" else start + timedelta(seconds=30),
                     "parameters": {}, "cause": {"kind": "schedule"}, "log_url": None, "details": {},
                     "first_seen_at": start, "updated_at": start})
        if len(rows) == chunk:
            _insert_runs(catalog, rows)
            rows = []
    if rows:
        _insert_runs(catalog, rows)
    with catalog.engine.begin() as conn:  # what migration 0003 does for an existing catalog
        conn.execute(text("DELETE FROM latest_runs"))
        conn.execute(text("INSERT INTO latest_runs (job, run) SELECT job, max(id) FROM runs GROUP BY job"))
        conn.execute(text("ANALYZE"))  # statistics for the planner, as a live catalog has
    return time.perf_counter() - began


def _insert_runs(catalog: Catalog, rows: list[dict]) -> None:
    with catalog.engine.begin() as conn:
        DriverWriter(conn).many("INSERT INTO runs ({columns}) VALUES ({values})", RUN_COLUMNS, rows)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


def timed_get(client: httpx.Client, path: str, samples: int) -> tuple[list[float], int]:
    times, rows = [], 0
    for _ in range(samples):
        began = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - began)
        response.raise_for_status()
        rows = len(response.json())
    return times, rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def api_server(catalog: Catalog) -> Iterator[str]:
    import asyncio

    import uvicorn

    from unifier.api import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(lambda: catalog), port=port, log_level="warning",
                                           lifespan="off", access_log=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def upserts(catalog: Catalog, count: int) -> None:
    end = utcnow()
    new = [Run(job=f"bench-none://upserts/job-{i % 1000}", run_id=f"u{i}", state=RunState.RUNNING,
               started_at=end - timedelta(seconds=5)) for i in range(count)]
    done = [Run(job=r.job, run_id=r.run_id, state=RunState.SUCCEEDED, started_at=r.started_at, ended_at=end)
            for r in new]
    for label, runs in (("new runs", new), ("updates", done)):
        began, cpu = time.perf_counter(), time.process_time()
        events = catalog.record_runs(runs)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        print(f"record_runs, {count:,} {label:9} ({len(events):,} events): {count / wall:9,.0f} runs/s wall, "
              f"{count / cpu:9,.0f} runs/s CPU")


def resident_memory(url: str, samples: int) -> None:
    port = free_port()
    env = {**os.environ, "UNIFIER_DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "unifier", "run", "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/api/health").raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("unifier run --listen did not start") from None
                    time.sleep(0.2)
            for _ in range(max(1, samples // 10)):
                client.get("/api/status?limit=10000").raise_for_status()
                client.get("/api/runs?state=failed").raise_for_status()
                client.get("/api/jobs?limit=10000").raise_for_status()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        print(f"unifier run --listen resident memory: {fields['VmRSS'].strip()} now, "
              f"{fields['VmHWM'].strip()} peak (target < 250 MB)")
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def catalog_url(url: str | None) -> Iterator[str]:
    if url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        yield url
        return
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    name = f"unifier_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--upserts", type=int, default=20_000, help="runs recorded through record_runs")
    parser.add_argument("--samples", type=int, default=50, help="requests per measured route")
    parser.add_argument("--url", help="catalog URL (default: a fresh SQLite file); PostgreSQL: a fresh "
                                      "database is made beside the one named")
    parser.add_argument("--no-memory", action="store_true", help="skip `unifier run --listen` memory")
    parser.add_argument("--upserts-only", action="store_true",
                        help="only the run upserts, into a catalog filled with --jobs and --runs")
    args = parser.parse_args()
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    with catalog_url(args.url) as url:
        catalog = Catalog.open(url)
        if args.upserts_only:
            fill(catalog, jobs=args.jobs, instances=args.instances, runs=args.runs)
            upserts(catalog, args.upserts)
            catalog.close()
            return
        seconds = fill(catalog, jobs=args.jobs, instances=args.instances, runs=args.runs)
        print(f"filled {catalog.engine.url.get_backend_name()}: {args.jobs:,} jobs, {args.instances} instances, "
              f"{args.runs:,} runs in {seconds:.1f} s")
        with api_server(catalog) as base, httpx.Client(base_url=base, timeout=120) as client:
            timed_get(client, "/api/status", 3)  # warm the connection pool and caches
            times, rows = timed_get(client, "/api/status", args.samples)
            print(f"GET /api/status (first page, {rows} rows):         {percentiles(times)}   (p95 < 50 ms)")
            times, rows = timed_get(client, "/api/runs?state=failed", args.samples)
            print(f"GET /api/runs?state=failed (first page, {rows} rows): {percentiles(times)}   (p95 < 50 ms)")
            times, rows = timed_get(client, "/api/status?limit=10000", max(3, args.samples // 10))
            print(f"GET /api/status?limit=10000 ({rows:,} rows):          {percentiles(times)}   (< 1 s)")
            times, rows = timed_get(client, "/api/runs?limit=100&cursor=" + _deep_cursor(catalog), args.samples)
            print(f"GET /api/runs, a page 50,000 runs deep:           {percentiles(times)}")
        env = {**os.environ, "UNIFIER_DATABASE_URL": url}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "unifier", "status", "-o", "json"], env=env,
                                capture_output=True, check=True)
        wall, rows = time.perf_counter() - began, result.stdout.count(b'"job":')
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        print(f"unifier status -o json ({rows:,} rows): {wall:.2f} s wall, {cpu:.2f} s CPU (a new process)")
        upserts(catalog, args.upserts)
        catalog.close()
        if not args.no_memory:
            resident_memory(url, args.samples)


def _deep_cursor(catalog: Catalog) -> str:
    cursor = None
    for _ in range(500):  # 500 pages of 100
        cursor = catalog.runs_page(limit=100, cursor=cursor).next_cursor
        if cursor is None:
            break
    return cursor or ""


if __name__ == "__main__":
    main()
