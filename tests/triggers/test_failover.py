"""Two replicas of ``unifier run`` on one PostgreSQL catalog: the leader is killed
(SIGKILL) at each step of a firing in a chain of triggers; the standby takes over
within 10 s and each downstream job runs exactly once.

The chain is extract -> load -> report, three real cron jobs (runs are detached
processes recorded in the cron spool). Runs are counted in the tool's own record (the
spool journal), not in unifier's catalog.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import _postgres_database
from tests.triggers.test_fault_injection import spool_starts
from unifier.catalog import Catalog
from unifier.leader import current_leader
from unifier.triggers.faults import POINTS
from unifier.triggers.store import list_firings

pytestmark = pytest.mark.postgres

CRONTAB = """\
# unifier: name=extract
0 3 * * * echo extracted
# unifier: name=load
0 4 * * * echo "loading $UNIFIER_PARAM_FROM"
# unifier: name=report
0 5 * * * echo "report on $UNIFIER_PARAM_FROM"
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
  when: {any: [{job: cron://hosts/extract}]}
  then:
    - job: cron://hosts/load
      params: {FROM: "{{ upstream['cron://hosts/extract'].run_id }}"}
---
apiVersion: unifier/v1
kind: Trigger
metadata: {name: report-after-load}
spec:
  when: {any: [{job: cron://hosts/load}]}
  then:
    - job: cron://hosts/report
      params: {FROM: "{{ upstream['cron://hosts/load'].run_id }}"}
"""

# Seconds from the leader's death to the standby leading. The figure itself is measured by
# benchmarks/failover.py (p50 about 0.5 s); this bound only catches a standby that never
# notices, with room for a test machine whose two cores run a whole suite at once.
TAKEOVER_BOUND = 30.0


@pytest.fixture
def postgres_url(monkeypatch) -> Iterator[str]:
    for url in _postgres_database():
        monkeypatch.setenv("UNIFIER_DATABASE_URL", url)
        yield url


def replica(home: str, url: str, name: str, fault: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "UNIFIER_FAULT"}
    env.update(UNIFIER_HOME=home, UNIFIER_DATABASE_URL=url)
    if fault:
        env["UNIFIER_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "unifier", "run", "--no-listen", "--interval", "0.1",
         "--replica-id", name], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(condition, what: str, seconds: float = 60) -> float:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < seconds, what
        time.sleep(0.05)
    return time.monotonic()


@pytest.mark.parametrize("point", POINTS)
def test_killing_the_leader_mid_chain_loses_and_doubles_nothing(point, tmp_path, unifier_home, postgres_url):
    (tmp_path / "crontab").write_text(CRONTAB)
    (tmp_path / "unifier.yaml").write_text(CONFIG)
    assert run_cli("apply", "-f", str(tmp_path / "unifier.yaml")).exit_code == 0
    result = run_cli("trigger", "cron://hosts/extract", "--wait")
    assert result.exit_code == 0, result.stderr
    spool = tmp_path / "spool"
    catalog = Catalog.open(postgres_url)
    leader = replica(unifier_home, postgres_url, "doomed", fault=point)
    standby = None
    try:
        wait_for(lambda: (current_leader(catalog) or _Nobody).holder == "doomed" or leader.poll() is not None,
                 "the first replica never led")
        standby = replica(unifier_home, postgres_url, "standby")
        died = wait_for(lambda: leader.poll() is not None, "the leader never reached its kill point")
        assert leader.returncode == -signal.SIGKILL, leader.stderr.read() if leader.stderr else ""

        took_over = wait_for(lambda: (current_leader(catalog) or _Nobody).holder == "standby",
                             "the standby never took over")
        assert took_over - died < TAKEOVER_BOUND

        wait_for(lambda: len(list_firings(catalog, status="issued")) == 2 and spool_starts(spool, "cron://hosts/report"),
                 "the chain did not finish under the standby")
        time.sleep(1.0)  # cycles go on: a doubled firing would show now
    finally:
        for proc in (leader, standby):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=30)
    assert standby.returncode == 0, standby.stderr.read() if standby.stderr else ""

    firings = {f.trigger: f for f in list_firings(catalog)}
    assert {f.status for f in firings.values()} == {"issued"} and len(firings) == 2
    [extract] = spool_starts(spool, "cron://hosts/extract")
    [load] = spool_starts(spool, "cron://hosts/load")
    [report] = spool_starts(spool, "cron://hosts/report")
    assert load["params"] == {"FROM": extract["run_id"]}
    assert report["params"] == {"FROM": load["run_id"]}
    assert load["firing_id"] == firings["load-after-extract"].actions[0].firing_id
    assert report["firing_id"] == firings["report-after-load"].actions[0].firing_id
    assert [r.run_id for r in catalog.list_runs(job="cron://hosts/load")] == [load["run_id"]]
    assert [r.run_id for r in catalog.list_runs(job="cron://hosts/report")] == [report["run_id"]]
    catalog.close()


class _Nobody:
    holder = None

