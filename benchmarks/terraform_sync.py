"""Terraform adapter figures: trigger latency, run durations, and the cost of a sync.

    .venv/bin/python benchmarks/terraform_sync.py [--roots 1000] [--runs 5]

Uses the real terraform 1.0.3 and null provider from the [dev] extra, offline, in a
temporary directory. Prints figures; asserts nothing about time.

- trigger: seconds from ``trigger()`` to its return (the detached runner has recorded
  its start), and to the run's end, for plan / apply / destroy of a one-resource root;
- sync: one ``changes()`` over N roots with local state when nothing changed (one
  stat per root, no file read), when one state changed outside unifier (one read, one
  external run), and after M unifier runs were recorded (reads only the new journal
  bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from unifier.adapters.terraform.adapter import TerraformAdapter
from unifier.adapters.terraform.settings import TerraformSettings
from unifier.adapters.terraform.testing import (
    build_null_provider_mirror,
    bundled_test_binary,
    write_cli_config,
)

ROOT_TF = """
variable "greeting" {
  type    = string
  default = "hi"
}
resource "null_resource" "r" {
  triggers = { g = var.greeting }
}
"""


async def wait_end(adapter: TerraformAdapter, job: str, run_id: str) -> str:
    while True:
        run = await adapter.status(job, run_id)
        if run.state.terminal:
            return run.native_state or "?"
        await asyncio.sleep(0.02)


async def bench_trigger(tmp: Path, runs: int) -> None:
    root = tmp / "roots" / "bench"
    root.mkdir(parents=True)
    (root / "main.tf").write_text(ROOT_TF)
    adapter = TerraformAdapter("bench", TerraformSettings(
        roots=[str(root)], binary=str(bundled_test_binary()),
        plugin_dir=str(build_null_provider_mirror(tmp / "mirror")), spool=str(tmp / "spool")))
    print(f"trigger -> end, {runs} runs each (init + action every run):")
    for action in ("plan", "apply", "destroy"):
        starts, ends = [], []
        for i in range(runs):
            params = {"action": action, "greeting": f"g{i}"}
            t0 = time.perf_counter()
            run = await adapter.trigger("bench", params, uuid.uuid4().hex)
            starts.append(time.perf_counter() - t0)
            native = await wait_end(adapter, "bench", run.run_id)
            ends.append(time.perf_counter() - t0)
            assert native in ("planned", "applied", "destroyed", "no-changes"), native
        print(f"  {action:8s} trigger returns in {statistics.median(starts) * 1000:6.1f} ms (median), "
              f"run ends after {statistics.median(ends):5.2f} s (median)")


def make_state(path: Path, serial: int) -> None:
    path.write_text(json.dumps({"version": 4, "terraform_version": "1.0.3", "serial": serial,
                                "lineage": "bench-lineage", "outputs": {}, "resources": []}))


async def bench_sync(tmp: Path, roots: int) -> None:
    base = tmp / "many"
    for i in range(roots):
        root = base / f"root{i:05d}"
        root.mkdir(parents=True)
        (root / "main.tf").write_text("")
        make_state(root / "terraform.tfstate", 1)
    adapter = TerraformAdapter("many", TerraformSettings(
        roots=[str(base / "*")], binary=str(bundled_test_binary()), spool=str(tmp / "spool-many")))

    t0 = time.perf_counter()
    first = await adapter.changes(None)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    quiet = await adapter.changes(first.watermark)
    t_quiet = time.perf_counter() - t0
    make_state(base / "root00007" / "terraform.tfstate", 2)
    t0 = time.perf_counter()
    one = await adapter.changes(quiet.watermark)
    t_one = time.perf_counter() - t0
    assert [r.native_state for r in one.runs] == ["applied-externally"]
    # M finished unifier runs recorded in the journal (as a runner writes them)
    spool = adapter.spool
    for i in range(1000):
        rid = f"tf-bench{i:05d}"
        spool.append({"rec": "start", "run_id": rid, "job": "root00001", "pid": 1, "host": "elsewhere",
                      "params": {}, "command": {"root": str(base / "root00001")},
                      "started_at": "2026-01-01T00:00:00+00:00"})
        spool.append({"rec": "end", "run_id": rid, "job": "root00001", "exit_code": 0,
                      "native_state": "planned", "ended_at": "2026-01-01T00:00:01+00:00", "details": {}})
    t0 = time.perf_counter()
    many = await adapter.changes(one.watermark)
    t_many = time.perf_counter() - t0
    t0 = time.perf_counter()
    await adapter.changes(many.watermark)
    t_after = time.perf_counter() - t0
    print(f"sync over {roots} roots with local state:")
    print(f"  first sync (baseline, reads every state)   {t_first * 1000:7.1f} ms, {first.requests} reads")
    print(f"  nothing changed                            {t_quiet * 1000:7.1f} ms, {quiet.requests} reads")
    print(f"  one state changed outside unifier          {t_one * 1000:7.1f} ms, {one.requests} reads, "
          f"{len(one.runs)} external run")
    print(f"  1000 unifier runs recorded since           {t_many * 1000:7.1f} ms, {len(many.runs)} runs")
    print(f"  nothing changed again                      {t_after * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="unifier-tf-bench-"))
    home = tmp / "home"
    home.mkdir()
    os.environ["HOME"] = str(home)
    os.environ["TF_CLI_CONFIG_FILE"] = str(write_cli_config(tmp / "terraformrc"))
    try:
        asyncio.run(bench_trigger(tmp, args.runs))
        asyncio.run(bench_sync(tmp, args.roots))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
