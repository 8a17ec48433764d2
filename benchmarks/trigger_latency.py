"""Upstream run ended -> downstream run started by its trigger: p50 / p95, polled and pushed.

    .venv/bin/python benchmarks/trigger_latency.py [--samples 20] [--poll 1.0]

A real ``unifier run`` process watches a cron instance with a trigger ``up -> down``.
Each sample runs ``up`` the way cron does (the ``unifier exec`` wrapper, unifier not
involved), then waits for ``down`` to start. The latency is read from the tool's own
record, the spool journal: ``down``'s start time minus ``up``'s end time.

- **polling**: the instance's ``poll_interval`` is ``--poll``; samples start at a random
  phase of the poll cycle (target: below poll interval + 100 ms);
- **push**: the instance polls hourly; right after ``up`` ends, its webhook
  ``POST /hooks/hosts`` is called, as a tool's notification would (target: p50 < 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from unifier.catalog import Catalog
from unifier.triggers.store import list_firings

CRONTAB = "# unifier: name=up\n0 3 * * * true\n# unifier: name=down\n0 4 * * * true\n"
CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: hosts}}
spec:
  adapter: cron
  poll_interval: {poll}
  webhook_secret: ${{env:BENCH_HOOK_SECRET}}
  config: {{crontabs: [./crontab], spool: ./spool}}
---
apiVersion: unifier/v1
kind: Trigger
metadata: {{name: down-after-up}}
spec:
  when: {{any: [{{job: cron://hosts/up}}]}}
  then: [{{job: cron://hosts/down}}]
  storm_guard: {{max_firings: 100000}}
"""


def journal(spool: Path) -> list[dict]:
    path = spool / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def stamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(mode: str, samples: int, poll: float) -> tuple[list[float], list[float]]:
    """(ended -> downstream started, ended -> firing written to the ledger), per sample."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "crontab").write_text(CRONTAB)
        (work / "unifier.yaml").write_text(CONFIG.format(poll=poll if mode == "poll" else 3600))
        env = {**os.environ, "UNIFIER_HOME": str(work / "home"), "BENCH_HOOK_SECRET": "bench"}
        unifier = [sys.executable, "-m", "unifier"]
        subprocess.run([*unifier, "apply", "-f", str(work / "unifier.yaml")], env=env, check=True,
                       capture_output=True)
        port = free_port()
        loop = subprocess.Popen([*unifier, "run", "--interval", str(poll), "--listen", f"127.0.0.1:{port}"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spool = work / "spool"
        latencies = []
        try:
            deadline = time.monotonic() + 30
            while True:  # wait for the API: the loop is up and has done its first sync
                try:
                    httpx.get(f"http://127.0.0.1:{port}/api/health")
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "unifier run did not start"
                    time.sleep(0.1)
            for i in range(samples):
                if mode == "poll":
                    time.sleep(random.uniform(0, poll))
                subprocess.run([sys.executable, "-m", "unifier.adapters.cron.wrapper", "--job",
                                "cron://hosts/up", "--spool", str(spool), "--", "true"],
                               env=env, check=True, capture_output=True)
                if mode == "push":
                    httpx.post(f"http://127.0.0.1:{port}/hooks/hosts", json={"event": "ended"},
                               headers={"Authorization": "Bearer bench"}).raise_for_status()
                deadline = time.monotonic() + poll + 30
                while True:
                    records = journal(spool)
                    downs = [r for r in records if r["rec"] == "start" and r["job"] == "cron://hosts/down"]
                    if len(downs) > i:
                        break
                    assert time.monotonic() < deadline, "the downstream run never started"
                    time.sleep(0.005)
                up_end = [r for r in records if r["rec"] == "end" and r["job"] == "cron://hosts/up"][-1]
                latencies.append(stamp(downs[-1]["started_at"]) - stamp(up_end["ended_at"]))
        finally:
            loop.terminate()
            loop.wait(timeout=30)
        ends = {r["run_id"]: stamp(r["ended_at"]) for r in journal(spool) if r["rec"] == "end"}
        catalog = Catalog.open(f"sqlite:///{work / 'home' / 'unifier.db'}")
        decided = [f.created_at.timestamp() - ends[f.upstream_runs[0].run_id]
                   for f in list_firings(catalog)]
        catalog.close()
        return latencies, decided


def report(name: str, values: list[float]) -> None:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{name:<32} p50 {statistics.median(ordered) * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms   "
          f"max {ordered[-1] * 1000:7.0f} ms   ({len(ordered)} samples)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval, seconds")
    args = parser.parse_args()
    print("upstream run ended -> downstream run started (times from the cron spool journal)")
    print("(started: the downstream run's start in the spool; decided: its firing in the ledger)")
    started, decided = measure("poll", args.samples, args.poll)
    report(f"polling every {args.poll:g}s, started", started)
    report(f"polling every {args.poll:g}s, decided", decided)
    started, decided = measure("push", args.samples, args.poll)
    report("push (webhook), started", started)
    report("push (webhook), decided", decided)


if __name__ == "__main__":
    main()
