"""Sustained firing: 10,000 firings a minute through a fast (in-memory) adapter.

    .venv/bin/python benchmarks/sustained_firing.py [--minutes 5] [--rate 10000] [--triggers 50]
        [--database-url URL]  (default: a fresh SQLite file; e.g. postgresql+psycopg://postgres@127.0.0.1/bench)

One process runs the control loop (the reconciler with its worker threads, as ``unifier
run`` does) over two fake tools. The upstream tool starts ``--rate`` runs a minute on its
own (spread over ``--triggers`` jobs), each ending at once; a trigger per job fires a
downstream job with the upstream run id as a parameter. The downstream tool records
when each firing id first reached it. Figures:

- latency: upstream run end -> first downstream trigger call (target p95 < 1 s);
- lost: upstream runs that never reached the downstream tool (the drain waits while
  the backlog still moves, and gives up after 30 s without one firing);
- doubled: upstream runs for which the downstream tool got two different firings.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from unifier.apply import apply
from unifier.catalog import Catalog
from unifier.config import load_files
from unifier.instances import build_adapter
from unifier.reconciler import LOOP_THREADS, Reconciler
from unifier.testing.fake import FakeAdapter, FakeSettings, register_fake_adapter


class RecordingAdapter(FakeAdapter):
    """The downstream tool: when each firing id first arrived, and with which parameters."""

    kind = "recording"
    first_call: ClassVar[dict[str, tuple[float, str]]] = {}  # firing id -> (time, upstream run)
    expected: ClassVar[int | None] = None  # known once the upstream tool is done
    all_arrived: ClassVar[asyncio.Event]

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *, fired_at=None):
        self.first_call.setdefault(firing_id, (time.time(), str(params.get("UP"))))
        self.check_all_arrived()
        return await super().trigger(native_id, params, firing_id)

    @classmethod
    def check_all_arrived(cls) -> None:
        if cls.expected is not None and len(cls.first_call) >= cls.expected:
            cls.all_arrived.set()


def config(triggers: int) -> str:
    jobs = ", ".join(f"{{id: u{i}, duration: 0}}" for i in range(triggers))
    down = ", ".join(f"{{id: d{i}, duration: 0}}" for i in range(triggers))
    docs = [f"""\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: up}}
spec: {{adapter: fake, poll_interval: 0, config: {{queue_seconds: 0, jobs: [{jobs}]}}}}
""", f"""\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: down}}
spec:
  adapter: recording
  poll_interval: 1
  max_concurrent_firings: 64
  config: {{queue_seconds: 0, jobs: [{down}]}}
"""]
    for i in range(triggers):
        docs.append(f"""\
apiVersion: unifier/v1
kind: Trigger
metadata: {{name: t{i}}}
spec:
  when: {{any: [{{job: fake://up/u{i}}}]}}
  then: [{{job: recording://down/d{i}, params: {{UP: "{{{{ upstream['fake://up/u{i}'].run_id }}}}"}}}}]
  storm_guard: {{max_firings: 1000000}}
""")
    return "---\n".join(docs)


async def generate(catalog: Catalog, rate: float, seconds: float, triggers: int,
                   ended: dict[str, float]) -> None:
    """The upstream tool starting runs on its own, ``rate`` a minute, each ending at once."""
    async with build_adapter(catalog.get_instance("up")) as tool:
        began, n = time.monotonic(), 0
        while (elapsed := time.monotonic() - began) < seconds:
            due = int(elapsed * rate / 60)
            while n < due:
                run = await tool.trigger(f"u{n % triggers}", {}, f"scheduled-{n}")
                assert run.ended_at is not None
                ended[run.run_id] = run.ended_at.timestamp()
                n += 1
            await asyncio.sleep(0.05)


async def measure(url: str, minutes: float, rate: float, triggers: int, interval: float) -> None:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(LOOP_THREADS))
    RecordingAdapter.all_arrived = asyncio.Event()
    catalog = Catalog.open(url)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(config(triggers))
        apply(catalog, load_files([path]))
    ended: dict[str, float] = {}
    loop = Reconciler(catalog, interval=interval)
    running = asyncio.create_task(loop.run())
    began = time.monotonic()
    await generate(catalog, rate, minutes * 60, triggers, ended)
    generated_for = time.monotonic() - began
    RecordingAdapter.expected = len(ended)
    RecordingAdapter.check_all_arrived()
    seen = -1
    while len(RecordingAdapter.first_call) > seen:  # drain while the backlog still moves
        seen = len(RecordingAdapter.first_call)
        try:
            await asyncio.wait_for(RecordingAdapter.all_arrived.wait(), timeout=30)
            break
        except TimeoutError:
            continue  # reported as lost below when nothing arrived for 30 s
    drained_for = time.monotonic() - began - generated_for
    loop.stop()
    await running
    catalog.close()

    per_upstream: dict[str, list[str]] = defaultdict(list)
    latencies = []
    for firing_id, (at, upstream) in RecordingAdapter.first_call.items():
        per_upstream[upstream].append(firing_id)
        if upstream in ended:
            latencies.append(at - ended[upstream])
    lost = [r for r in ended if r not in per_upstream]
    doubled = [r for r, ids in per_upstream.items() if len(ids) > 1]
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"catalog: {url.split('@')[-1]}")
    print(f"upstream runs: {len(ended)} in {generated_for:.0f} s "
          f"({len(ended) / generated_for * 60:,.0f}/min asked {rate:,.0f}/min, {triggers} triggers)")
    print(f"downstream firings: {len(RecordingAdapter.first_call)} (the last {drained_for:.0f} s after the upstream "
          f"tool stopped)   lost: {len(lost)}   doubled: {len(doubled)}")
    if latencies:
        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"upstream end -> downstream trigger call: p50 {statistics.median(ordered) * 1000:.0f} ms   "
              f"p95 {p95 * 1000:.0f} ms   max {ordered[-1] * 1000:.0f} ms   (target p95 < 1000 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=10000, help="upstream runs (so firings) a minute")
    parser.add_argument("--triggers", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1, help="the loop's longest pause, seconds")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    register_fake_adapter()
    from unifier.plugins import get_plugin_manager

    get_plugin_manager().adapters.add_adapter(kind="recording", settings=FakeSettings,
                                              implementation=f"{__name__}:RecordingAdapter")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(measure(url, args.minutes, args.rate, args.triggers, args.interval))


if __name__ == "__main__":
    main()
