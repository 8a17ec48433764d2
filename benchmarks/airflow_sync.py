"""Airflow adapter figures against the real Airflow 3 of tests/airflow/server.sh.

    bash tests/airflow/server.sh start && source .airflow-ci/env
    .venv/bin/python benchmarks/airflow_sync.py [--changed 50,250,1000] [--samples 10]
    bash tests/airflow/server.sh stop

Prints:

1. requests per sync cycle (``changes()``, counted on the wire) with 200+ DAGs and no
   change (target: 1), and with N runs changed (target: ceil(N/100));
2. the cost of a whole control-loop sync of the instance (changes + health), first and
   steady state;
3. the time from an Airflow run ending (Airflow's own ``end_date``) to unifier's catalog
   showing it finished, p50/p95, with the instance polled every 5 s and with the
   listener plugin's push through unifier's webhook endpoint (poll interval 1 h, so only
   the push can explain a quick sighting).

Changed runs are created as queued runs on the paused page_dag_* DAGs (they never
execute). Runs of unifier_frequent, which Airflow schedules every 20 s, add a few
changes of their own: the figures count what the query actually returned.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from unifier import secrets
from unifier.adapters.airflow.adapter import AirflowAdapter
from unifier.adapters.airflow.settings import AirflowSettings
from unifier.errors import NotFound
from unifier.model import RunState


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run `bash tests/airflow/server.sh start && source .airflow-ci/env`")
    return value


def make_adapter(**overrides: Any) -> AirflowAdapter:
    raw = {"url": env("UNIFIER_TEST_AIRFLOW_URL"), "username": env("UNIFIER_TEST_AIRFLOW_USER"),
           "password": "${env:UNIFIER_TEST_AIRFLOW_PASSWORD}", "watermark_overlap": 10, **overrides}
    with secrets.resolved_context():
        return AirflowAdapter("bench", AirflowSettings.model_validate(secrets.resolve(raw)))


class WireCount:
    """Counts requests at the urllib3 pool of the adapter's generated client."""

    def __init__(self, adapter: AirflowAdapter):
        self.n = 0
        pool = adapter.client.api.rest_client.pool_manager
        original = pool.request

        def request(*args: Any, **kwargs: Any) -> Any:
            self.n += 1
            return original(*args, **kwargs)

        pool.request = request

    def take(self) -> int:
        n, self.n = self.n, 0
        return n


def api() -> httpx.Client:
    client = httpx.Client(base_url=env("UNIFIER_TEST_AIRFLOW_URL"), timeout=30)
    token = client.post("/auth/token", json={"username": env("UNIFIER_TEST_AIRFLOW_USER"),
                                             "password": env("UNIFIER_TEST_AIRFLOW_PASSWORD")}).json()
    client.headers["Authorization"] = f"Bearer {token['access_token']}"
    return client


def queue_runs(client: httpx.Client, count: int) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    for i in range(count):  # page_dag_19x stay run-free (see tests/airflow/conftest.py)
        for attempt in range(5):
            resp = client.post(f"/api/v2/dags/page_dag_{i % 190:03d}/dagRuns",
                               json={"dag_run_id": f"{prefix}-{i:05d}", "logical_date": None})
            # SQLite under a burst of writes sometimes answers 500 "database is locked"
            if resp.status_code < 500 or attempt == 4:
                break
            time.sleep(0.2)
        if not (resp.status_code == 409 and attempt):  # 409 on a retry: the first one got in
            resp.raise_for_status()


async def requests_per_cycle(changed: list[int]) -> None:
    adapter = make_adapter()
    wire = WireCount(adapter)
    dags = len(await adapter.discover())
    mark = (await adapter.changes(None)).watermark
    wire.take()
    print(f"== requests per sync cycle ({dags} DAGs)")
    quiet = []
    for _ in range(5):
        await asyncio.sleep(1)
        cs = await adapter.changes(mark)
        mark = cs.watermark
        quiet.append((wire.take(), len(cs.runs)))
    print(f"no change (5 cycles, 1 s apart): requests {[q[0] for q in quiet]}, "
          f"runs returned {[q[1] for q in quiet]}  (target 1)")
    client = api()
    overlap = adapter.settings.watermark_overlap
    for n in changed:
        # let the previous burst leave the overlap window, which every query re-reads
        await asyncio.sleep(overlap + 1)
        mark = (await adapter.changes(mark)).watermark
        wire.take()
        queue_runs(client, n)
        cs = await adapter.changes(mark)
        mark = cs.watermark
        got = wire.take()
        print(f"{n} runs changed: {len(cs.runs)} returned in {got} request(s)  "
              f"(target ceil({len(cs.runs)}/100) = {math.ceil(len(cs.runs) / 100)})")
    # a cycle right after a burst re-reads the burst (it lies inside the overlap): the
    # re-read runs are dropped by fingerprint, but their pages are paid for
    queue_runs(client, changed[-1])
    mark = (await adapter.changes(mark)).watermark
    wire.take()
    cs = await adapter.changes(mark)
    print(f"the cycle right after a burst of {changed[-1]}: {len(cs.runs)} returned in {wire.take()} "
          f"request(s) (the burst, inside the {overlap:.0f} s overlap, is re-read and dropped)")
    client.close()
    await adapter.close()


async def control_loop_cycle() -> None:
    """What ``sync_instance`` costs with a persistent adapter (the reconciler's case)."""
    from unifier.catalog import Catalog
    from unifier.sync import sync_instance

    adapter = make_adapter()
    wire = WireCount(adapter)
    with tempfile.TemporaryDirectory() as home:
        catalog = Catalog.open(f"sqlite:///{Path(home) / 'c.db'}")
        catalog.put_instance("bench", "airflow", {"adapter": "airflow", "config": {}}, "x", None)
        figures = []
        for _ in range(4):
            await asyncio.sleep(1)
            report = await sync_instance(catalog, "bench", discover=False, adapter=adapter)
            assert report.ok, report.error
            figures.append(wire.take())
        catalog.close()
    await adapter.close()
    print(f"== one control-loop sync (changes + health), 4 cycles: requests {figures} "
          "(first: login, the first pages of 7 days of history, health's 2; health is then reused "
          "for 60 s)")


async def visibility(mode: str, samples: int) -> list[float]:
    """Seconds from Airflow's end_date to the catalog showing the run succeeded."""
    from unifier.api import create_app
    from unifier.api.server import ApiServer
    from unifier.apply import apply
    from unifier.catalog import Catalog
    from unifier.config.loader import load_files
    from unifier.reconciler import Reconciler

    hook_url = env("UNIFIER_TEST_WEBHOOK_URL")
    instance = urlsplit(hook_url).path.rsplit("/", 1)[-1]
    delays: list[float] = []
    jitter = random.Random(7)
    with tempfile.TemporaryDirectory() as home:
        config = Path(home) / "airflow.yaml"
        config.write_text(f"""\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: {instance}}}
spec:
  adapter: airflow
  poll_interval: {"1h" if mode == "push" else "5s"}
  webhook_secret: ${{env:UNIFIER_TEST_WEBHOOK_TOKEN}}
  config:
    url: {env("UNIFIER_TEST_AIRFLOW_URL")}
    username: {env("UNIFIER_TEST_AIRFLOW_USER")}
    password: ${{env:UNIFIER_TEST_AIRFLOW_PASSWORD}}
""")
        catalog = Catalog.open(f"sqlite:///{Path(home) / 'c.db'}")
        apply(catalog, load_files([config]))
        reconciler = Reconciler(catalog, interval=0.2)
        server = None
        if mode == "push":
            server = ApiServer(create_app(lambda: catalog, wake=reconciler.wake),
                               f"127.0.0.1:{urlsplit(hook_url).port}")
            await server.start()
        loop = asyncio.create_task(reconciler.run())
        trigger_adapter = make_adapter()
        try:
            # the first sync must finish before the clock starts; the catalog is read off the loop
            while (await asyncio.to_thread(catalog.get_sync_state, instance)).last_sync_at is None:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            for _ in range(samples):
                run = await trigger_adapter.trigger("unifier_succeeds", {"greeting": "bench"},
                                                    f"bench-{uuid.uuid4().hex}")
                uri = f"airflow://{instance}/unifier_succeeds"
                while True:
                    try:
                        stored = catalog.get_run(uri, run.run_id)
                        if stored.state == RunState.SUCCEEDED:
                            seen = time.time()
                            break
                    except NotFound:  # not synced yet
                        pass
                    await asyncio.sleep(0.02)
                final = await trigger_adapter.status("unifier_succeeds", run.run_id)
                delays.append(seen - final.ended_at.timestamp())
                await asyncio.sleep(jitter.uniform(0, 5))  # de-phase the next run from the 5 s poll
        finally:
            reconciler.stop()
            await loop
            if server is not None:
                await server.stop()
            await trigger_adapter.close()
            catalog.close()
    return delays


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changed", default="50,250,1000", help="comma-separated N of changed runs")
    parser.add_argument("--samples", type=int, default=10, help="runs timed per visibility mode")
    args = parser.parse_args()
    env("UNIFIER_TEST_AIRFLOW_PASSWORD")
    os.environ.setdefault("UNIFIER_HOME", tempfile.mkdtemp(prefix="unifier-bench-"))
    await control_loop_cycle()
    await requests_per_cycle([int(n) for n in args.changed.split(",") if n])
    print(f"== run end -> visible in unifier's catalog ({args.samples} runs each)")
    for mode, label in (("poll", "polling every 5 s"), ("push", "listener push, poll 1 h")):
        delays = await visibility(mode, args.samples)
        print(f"{label:26s} p50 {statistics.median(delays):.2f} s   p95 {pct(delays, 95):.2f} s   "
              f"max {max(delays):.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
