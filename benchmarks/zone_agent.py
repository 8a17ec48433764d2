"""Zone agents: catching up after a cut, and the latency the agent hop adds.

    .venv/bin/python benchmarks/zone_agent.py [--observations 10000] [--samples 20] [--short]

Both parts run real processes on loopback (no namespaces needed): a control plane
(``unifier run --listen``), a ``unifier agent`` for zone ``plant``, a cron instance whose
spool the agent observes.

- **catch-up**: once the agent is connected, the control plane is stopped (the cut);
  the agent observes ``--observations`` finished runs written to the spool through the
  spool's own API and queues them in its on-disk outbox; then the control plane starts
  again, and the figure is the time from its start until every run is in its catalog;
- **agent hop**: a trigger ``up -> down``; each sample runs ``up`` the way cron does
  (the ``unifier exec`` wrapper) and waits for ``down`` to start; latency = ``down``'s
  start minus ``up``'s end, both read from the spool journal. Once with the instance in
  a zone (observed by the agent, fired through its work queue), once served in process;
  both poll every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from unifier.catalog import Catalog
from unifier.spool import Spool

CRONTAB = "# unifier: name=up\n0 3 * * * true\n# unifier: name=down\n0 4 * * * true\n"
INSTANCE = """\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: hosts}}
spec:
  adapter: cron
  {zone}
  poll_interval: 0.2
  config: {{crontabs: [./crontab], spool: ./spool}}
"""
TRIGGER = """\
---
apiVersion: unifier/v1
kind: Trigger
metadata: {name: down-after-up}
spec:
  when: {any: [{job: cron://hosts/up}]}
  then: [{job: cron://hosts/down}]
  storm_guard: {max_firings: 100000}
"""
UNIFIER = [sys.executable, "-m", "unifier"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Setup:
    def __init__(self, work: Path, zoned: bool, trigger: bool):
        self.work, self.zoned = work, zoned
        (work / "crontab").write_text(CRONTAB)
        config = INSTANCE.format(zone="zone: plant" if zoned else "") + (TRIGGER if trigger else "")
        (work / "unifier.yaml").write_text(config)
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("UNIFIER_")},
                    "UNIFIER_HOME": str(work / "home")}
        subprocess.run([*UNIFIER, "apply", "-f", str(work / "unifier.yaml")], env=self.env, check=True,
                       capture_output=True)
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.spool = work / "spool"

    def start_control_plane(self) -> None:
        self.procs.append(subprocess.Popen(
            [*UNIFIER, "run", "--interval", "0.2", "--listen", f"127.0.0.1:{self.port}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.work / "cp.log", "ab")))  # noqa: SIM115

    def start_agent(self) -> None:
        self.procs.append(subprocess.Popen(
            [*UNIFIER, "agent", "--server", f"http://127.0.0.1:{self.port}", "--zone", "plant",
             "--token", "bench", "--state-dir", str(self.work / "agent"), "--pull-wait", "5"],
            env={**self.env, "UNIFIER_HOME": str(self.work / "agent-home")},
            stdout=subprocess.DEVNULL, stderr=open(self.work / "agent.log", "ab")))  # noqa: SIM115

    def catalog(self) -> Catalog:
        return Catalog.open(f"sqlite:///{self.work / 'home' / 'unifier.db'}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(30)


def journal(spool: Path) -> list[dict]:
    path = spool / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def stamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def outbox_settled(state: Path) -> int:
    """Messages waiting in the agent's outbox once it stops growing."""
    db = state / "agent.db"
    last, steady = -1, 0
    while steady < 5:
        time.sleep(0.2)
        try:
            with sqlite3.connect(db) as conn:
                count = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        except sqlite3.Error:
            count = -1
        steady = steady + 1 if count == last and count > 0 else 0
        last = count
    return last


def catch_up(observations: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(Path(tmp), zoned=True, trigger=False)
        try:
            setup.start_control_plane()
            setup.start_agent()
            catalog = setup.catalog()
            while len(catalog.list_jobs("hosts")) < 2:  # the agent is connected and active
                time.sleep(0.1)
            control_plane = setup.procs.pop(0)
            control_plane.terminate()  # the cut: the control plane is gone
            control_plane.wait(30)
            spool = Spool(setup.spool)
            for i in range(observations):
                run_id = f"bench-{i:06d}"
                spool.record_start(run_id, "cron://hosts/up", cause={"kind": "schedule"})
                spool.record_end(run_id, "cron://hosts/up", exit_code=0, native_state="succeeded")
            waiting = outbox_settled(Path(tmp) / "agent")
            began = time.monotonic()
            setup.start_control_plane()
            while True:  # the control plane's start-up, not counted
                try:
                    httpx.get(f"http://127.0.0.1:{setup.port}/api/zones", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.02)
            ready = time.monotonic()
            while len(catalog.list_runs(job="cron://hosts/up", limit=observations + 10)) < observations:
                time.sleep(0.05)
            took = time.monotonic() - ready
            catalog.close()
        finally:
            setup.stop()
        print(f"catch-up: {observations} runs observed while cut off ({waiting} outbox messages) "
              f"all in the catalog {took:.2f} s after the control plane answered "
              f"({observations / took:,.0f} runs/s; its start-up took {ready - began:.1f} s)", flush=True)


def hop(zoned: bool, samples: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(Path(tmp), zoned=zoned, trigger=True)
        latencies = []
        try:
            setup.start_control_plane()
            if zoned:
                setup.start_agent()
            catalog = setup.catalog()
            while len(catalog.list_jobs("hosts")) < 2:  # up, and the jobs discovered
                time.sleep(0.1)
            catalog.close()
            time.sleep(1)
            for i in range(samples):
                subprocess.run([sys.executable, "-m", "unifier.adapters.cron.wrapper", "--job",
                                "cron://hosts/up", "--spool", str(setup.spool), "--", "true"],
                               env=setup.env, check=True, capture_output=True)
                deadline = time.monotonic() + 60
                while True:
                    records = journal(setup.spool)
                    downs = [r for r in records if r["rec"] == "start" and r["job"] == "cron://hosts/down"]
                    if len(downs) > i:
                        break
                    if time.monotonic() > deadline:
                        raise SystemExit(f"down never started (see {tmp}/cp.log, agent.log)")
                    time.sleep(0.005)
                up_end = [r for r in records if r["rec"] == "end" and r["job"] == "cron://hosts/up"][-1]
                latencies.append(stamp(downs[-1]["started_at"]) - stamp(up_end["ended_at"]))
        finally:
            setup.stop()
        return latencies


def report(name: str, values: list[float]) -> None:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{name:<28} p50 {statistics.median(ordered) * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms   "
          f"max {ordered[-1] * 1000:7.0f} ms   ({len(ordered)} samples)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--short", action="store_true", help="1,000 observations, 5 samples")
    args = parser.parse_args()
    if args.short:
        args.observations, args.samples = 1_000, 5
    print("command:", " ".join([os.path.relpath(sys.executable), *sys.argv]), flush=True)
    catch_up(args.observations)
    print("upstream run ended -> downstream run started (times from the cron spool journal)", flush=True)
    in_process = hop(False, args.samples)
    report("served in process", in_process)
    through_agent = hop(True, args.samples)
    report("through the zone agent", through_agent)
    added = statistics.median(through_agent) - statistics.median(in_process)
    print(f"added by the agent hop: p50 {added * 1000:.0f} ms")


if __name__ == "__main__":
    main()
