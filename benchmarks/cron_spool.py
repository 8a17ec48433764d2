"""Cron adapter and spool figures: sync cost vs journal size, discovery, wrapper overhead.

    .venv/bin/python benchmarks/cron_spool.py [--runs 20000] [--entries 1000]

Prints what one sync cycle reads when a few runs changed in a large journal (it must
grow with the change, not with the journal), how long discovery of a big crontab takes,
and what the wrapper adds to a job's start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unifier.adapters.cron.adapter import CronAdapter
from unifier.adapters.cron.settings import CronSettings
from unifier.spool import Spool


def fill_journal(spool: Spool, runs: int) -> None:
    """``runs`` finished runs, written the way the wrapper writes them (one line each)."""
    spool.ensure()
    with open(spool.journal, "ab") as fh:
        for i in range(runs):
            for rec in (
                {"rec": "start", "run_id": f"cron-{i:08d}", "job": f"cron://bench/job-{i % 500}",
                 "pid": 1, "pid_start": 1, "host": spool.host, "params": {}, "cause": {"kind": "schedule"},
                 "command": "echo hello", "started_at": "2026-11-24T00:00:00+00:00"},
                {"rec": "end", "run_id": f"cron-{i:08d}", "job": f"cron://bench/job-{i % 500}",
                 "exit_code": 0, "native_state": "succeeded", "ended_at": "2026-11-24T00:00:01+00:00",
                 "output_tail": "hello\n", "details": {}},
            ):
                fh.write(json.dumps(rec, separators=(",", ":")).encode() + b"\n")


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def startup(argv: list[str], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cron-bench-"))
    try:
        tab = work / "crontab"
        tab.write_text("".join(f"# unifier: name=job-{i}\n*/5 * * * * echo job {i}\n" for i in range(args.entries)))
        adapter = CronAdapter("bench", CronSettings(crontabs=[str(tab)], spool=str(work / "spool")))
        fill_journal(adapter.spool, args.runs)
        size = adapter.spool.journal.stat().st_size

        first, t_first = timed(asyncio.run, adapter.changes(None))
        print(f"journal: {args.runs} runs, {size / 1e6:.1f} MB")
        print(f"first sync (whole journal): {len(first.runs)} runs in {t_first * 1000:.0f} ms")
        for changed in (0, 10, 100):
            adapter2 = CronAdapter("bench", adapter.settings)
            wm = first.watermark
            for i in range(changed):
                adapter2.spool.append({"rec": "end", "run_id": f"new-{changed}-{i}", "job": "cron://bench/job-1",
                                       "native_state": "succeeded", "ended_at": "2026-11-24T00:00:02+00:00"})
            found, t = timed(adapter2.spool.read, wm)
            print(f"incremental sync, {changed:>3} new records: read {found.bytes_read:>6} bytes, "
                  f"{len(found.runs):>3} runs, {t * 1000:.2f} ms")
            first = found if found.runs else first

        jobs, t_disc = timed(asyncio.run, adapter.discover())
        print(f"discover: {len(jobs)} crontab entries in {t_disc * 1000:.0f} ms "
              f"(next runs included)")

        spool_dir = str(work / "wrap-spool")
        base = startup(["/bin/true"])
        module = startup([sys.executable, "-m", "unifier.adapters.cron.wrapper", "--job", "cron://bench/x",
                          "--spool", spool_dir, "--", "/bin/true"])
        print(f"start-up: /bin/true {base * 1000:.1f} ms; python -m unifier.adapters.cron.wrapper "
              f"{module * 1000:.0f} ms")
        cli = shutil.which("unifier") or str(Path(sys.executable).parent / "unifier")
        if os.path.exists(cli):
            full = startup([cli, "exec", "--job", "cron://bench/x", "--spool", spool_dir, "--", "/bin/true"])
            print(f"start-up: unifier exec (full CLI) {full * 1000:.0f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
