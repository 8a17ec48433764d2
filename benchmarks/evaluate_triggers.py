"""How long one evaluation cycle takes with 100,000 trigger definitions.

    .venv/bin/python benchmarks/evaluate_triggers.py [--triggers 100000] [--active 1000]
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A catalog (a fresh SQLite file, or a fresh PostgreSQL database beside the one ``--url``
names) holds ``--triggers`` triggers, each waiting for its own upstream job. Measured,
each as one cycle of one :class:`unifier.triggers.evaluate.Evaluator` kept across
cycles, as the control loop keeps it (collect the new terminal runs, decide, write the
firings to the ledger), in wall time and in this process's CPU time (the machine may
be shared):

- the first cycle: the evaluator parses every trigger's rule once (as a leader does when
  it starts), nothing finished yet;
- a quiet cycle: nothing finished since the last one;
- a busy cycle: ``--active`` upstream runs finished, each satisfying one trigger;
- the worst case: an upstream run finished for every trigger at once (every
  definition is satisfied and writes a firing in the same cycle).

Definitions are loaded in bulk (what ``unifier apply`` of that many would store); the
runs are recorded through the catalog as a sync records them.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from unifier.catalog import Catalog
from unifier.catalog.tables import TriggerRow, TriggerUpstreamRow
from unifier.model import Run, RunState, utcnow
from unifier.triggers.evaluate import Evaluator
from unifier.triggers.store import hash_spec


def load_triggers(catalog: Catalog, count: int) -> None:
    now = utcnow()
    triggers, upstreams = [], []
    for i in range(count):
        spec = {"when": {"any": [{"job": f"cron://up/job-{i}"}]},
                "then": [{"job": f"cron://down/job-{i}", "params": {"N": str(i)}}]}
        triggers.append({"name": f"t-{i:06d}", "spec": spec, "spec_hash": hash_spec(spec),
                         "source": "bench", "declared_paused": False, "paused": False,
                         "paused_reason": None, "baseline_event_id": 0, "dirty": False,
                         "created_at": now, "updated_at": now})
        upstreams.append({"trigger": f"t-{i:06d}", "job": f"cron://up/job-{i}", "states": "succeeded"})
    with catalog.session() as s:
        for start in range(0, count, 10_000):
            s.execute(insert(TriggerRow), triggers[start:start + 10_000])
            s.execute(insert(TriggerUpstreamRow), upstreams[start:start + 10_000])


def finish_runs(catalog: Catalog, jobs: range, tag: str) -> None:
    end = utcnow()
    catalog.record_runs(
        Run(job=f"cron://up/job-{i}", run_id=f"{tag}-{i}", state=RunState.SUCCEEDED,
            started_at=end - timedelta(seconds=5), ended_at=end)
        for i in jobs)


def timed(evaluator: Evaluator) -> tuple[str, int]:
    began, cpu = time.perf_counter(), time.process_time()
    report = evaluator.evaluate()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    return f"{wall:7.2f} s wall, {cpu:6.2f} s CPU", len(report.firings)


def main() -> None:
    from catalog_scale import catalog_url  # the benchmarks' fresh-catalog helper

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=1_000, help="runs finishing in the busy cycle")
    parser.add_argument("--url", help="catalog URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    with catalog_url(args.url) as url:
        catalog = Catalog.open(url)
        began = time.perf_counter()
        load_triggers(catalog, args.triggers)
        print(f"{args.triggers:,} trigger definitions loaded in {time.perf_counter() - began:.1f}s "
              f"({catalog.engine.url.get_backend_name()})")
        evaluator = Evaluator(catalog)
        took, _ = timed(evaluator)  # also starts from a settled cursor
        print(f"first cycle (every rule parsed once):        {took}")

        took, fired = timed(evaluator)
        print(f"quiet cycle (nothing finished):             {took}, {fired} firings")

        step = max(1, args.triggers // args.active)
        finish_runs(catalog, range(0, args.triggers, step), "busy")
        took, fired = timed(evaluator)
        print(f"busy cycle ({fired:,} runs finished, {fired:,} fire): {took}")

        took, fired = timed(evaluator)
        print(f"next cycle (those runs already consumed):    {took}, {fired} firings")

        finish_runs(catalog, range(args.triggers), "all")
        took, fired = timed(evaluator)
        print(f"worst case (every trigger satisfied at once, {fired:,} firings written): {took}  (< 2 s)")
        catalog.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
