"""Webhook latency while another process holds the SQLite write lock.

    .venv/bin/python benchmarks/webhook_lock.py [--lock-seconds 5] [--pause 0.02]

A real ``unifier run --listen`` over a SQLite catalog syncs a cron instance every cycle
(``poll_interval: 0``), so its own writes queue behind the lock. Another process takes
the write lock (``BEGIN IMMEDIATE``) and keeps it ``--lock-seconds``; meanwhile the
webhook (``POST /hooks/hosts``) is called back to back (``--pause`` between calls) and
each answer timed, as is ``GET /api/status``. The same is measured without the lock.
Target: webhook p95 < 100 ms while locked.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: hosts}
spec:
  adapter: cron
  poll_interval: 0
  webhook_secret: ${env:BENCH_HOOK_SECRET}
  config: {crontabs: [./crontab], spool: ./spool}
"""

HOLD_LOCK = """\
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample(client: httpx.Client, seconds: float, pause: float) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"POST /hooks/hosts": [], "GET /api/status": []}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for name in timings:
            method, path = name.split()
            began = time.perf_counter()
            client.request(method, path, headers={"Authorization": "Bearer bench"}).raise_for_status()
            timings[name].append(time.perf_counter() - began)
        time.sleep(pause)
    return timings


def report(label: str, timings: dict[str, list[float]]) -> None:
    for name, values in timings.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"{label:<22} {name:<18} p50 {statistics.median(ordered) * 1000:6.1f} ms   "
              f"p95 {p95 * 1000:6.1f} ms   max {ordered[-1] * 1000:6.1f} ms   ({len(ordered)} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock-seconds", type=float, default=5.0)
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between two calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "crontab").write_text("# unifier: name=extract\n0 3 * * * echo extracted\n")
        (work / "unifier.yaml").write_text(CONFIG)
        env = {**os.environ, "UNIFIER_HOME": str(work / "home"), "BENCH_HOOK_SECRET": "bench"}
        unifier = [sys.executable, "-m", "unifier"]
        subprocess.run([*unifier, "apply", "-f", str(work / "unifier.yaml")], env=env, check=True,
                       capture_output=True)
        port = free_port()
        loop = subprocess.Popen([*unifier, "run", "--interval", "0.1", "--listen", f"127.0.0.1:{port}"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/api/health").raise_for_status()
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "unifier run did not start"
                    time.sleep(0.1)
            time.sleep(1.0)  # a few cycles: the loop is syncing
            print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
            report("no lock", sample(client, args.lock_seconds - 1, args.pause))
            holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(work / "home" / "unifier.db"),
                                       str(args.lock_seconds)], stdout=subprocess.PIPE, text=True)
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            report(f"write lock held {args.lock_seconds:g}s", sample(client, args.lock_seconds - 0.5, args.pause))
            holder.wait(timeout=30)
        finally:
            loop.terminate()
            loop.wait(timeout=30)


if __name__ == "__main__":
    main()
