"""Exactly-once firing under SIGKILL: no firing lost, none duplicated.

A real ``unifier run`` subprocess over a real SQLite file drives a trigger between two
real cron jobs (runs are detached processes recorded in the cron spool, so they
outlive the control loop). The loop kills itself with SIGKILL at each step of a firing
(``UNIFIER_FAULT``, see :mod:`unifier.triggers.faults`); a second, clean ``unifier
run`` then finishes the work. Downstream runs are counted in the tool's own record
(the spool journal), not in unifier's catalog.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from unifier.catalog import Catalog
from unifier.model import CauseKind
from unifier.triggers.faults import POINTS
from unifier.triggers.store import list_firings

CRONTAB = """\
# unifier: name=extract
0 3 * * * echo extracted
# unifier: name=load
0 4 * * * echo "loading $UNIFIER_PARAM_FROM"
"""

CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: hosts}
spec:
  adapter: cron
  poll_interval: 0
  config:
    crontabs: [./crontab]
    spool: ./spool
---
apiVersion: unifier/v1
kind: Trigger
metadata: {name: load-after-extract}
spec:
  when:
    any: [{job: cron://hosts/extract}]
  then:
    - job: cron://hosts/load
      params: {FROM: "{{ upstream['cron://hosts/extract'].run_id }}"}
"""

LOAD = "cron://hosts/load"


def control_loop(home: str, fault: str | None = None, cycles: int = 4) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "UNIFIER_FAULT"}
    env["UNIFIER_HOME"] = home
    if fault:
        env["UNIFIER_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "unifier", "run", "--no-listen", "--interval", "0.1",
         "--cycles", str(cycles)],
        env=env, capture_output=True, text=True, timeout=60, check=False)


def spool_starts(spool: Path, job: str) -> list[dict]:
    """Runs of ``job`` the tool started, from the spool journal itself."""
    journal = spool / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("rec") == "start" and r.get("job") == job]


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_each_step_of_a_firing_loses_nothing_and_duplicates_nothing(
        point, tmp_path, unifier_home):
    (tmp_path / "crontab").write_text(CRONTAB)
    (tmp_path / "unifier.yaml").write_text(CONFIG)
    assert run_cli("apply", "-f", str(tmp_path / "unifier.yaml")).exit_code == 0
    result = run_cli("trigger", "cron://hosts/extract", "--wait", "-o", "json")
    assert result.exit_code == 0, result.stderr
    upstream_run = json.loads(result.stdout)["run_id"]
    spool = tmp_path / "spool"

    crashed = control_loop(unifier_home, fault=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    catalog = Catalog.open()
    try:
        in_ledger = list_firings(catalog)
        started = spool_starts(spool, LOAD)
        if point == "before-ledger-write":
            assert in_ledger == [] and started == []
        else:
            assert [f.status for f in in_ledger] == ["pending"]
            assert len(started) == (0 if point == "after-ledger-write" else 1)

        for _ in range(2):  # restart, and restart again: still one firing, one run
            restarted = control_loop(unifier_home)
            assert restarted.returncode == 0, restarted.stderr

        [firing] = list_firings(catalog)
        assert firing.status == "issued"
        assert [k.run_id for k in firing.upstream_runs] == [upstream_run]
        [started] = spool_starts(spool, LOAD)
        assert started["firing_id"] == firing.actions[0].firing_id
        assert started["params"] == {"FROM": upstream_run}
        [run] = catalog.list_runs(job=LOAD)
        assert run.run_id == started["run_id"] == firing.downstream_runs[0].run_id
        assert run.cause.kind == CauseKind.TRIGGER
        assert run.cause.trigger == "load-after-extract" and run.cause.firing_id == firing.id
        assert [k.run_id for k in run.cause.upstream_runs] == [upstream_run]
    finally:
        catalog.close()
