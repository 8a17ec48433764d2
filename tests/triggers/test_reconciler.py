"""The control loop: per-instance poll intervals, wake-ups, clean shutdown on signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.cli_helpers import run_cli
from unifier.apply import apply
from unifier.catalog import Catalog
from unifier.config import load_files
from unifier.reconciler import Reconciler
from unifier.testing.fake import FakeAdapter, register_fake_adapter

TWO_INSTANCES = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: fast}
spec:
  adapter: fake
  poll_interval: 0
  config: {jobs: [{id: a}]}
---
apiVersion: unifier/v1
kind: Instance
metadata: {name: slow}
spec:
  adapter: fake
  poll_interval: 3600
  config: {jobs: [{id: b}]}
"""


@pytest.fixture
def two_instances(tmp_path):
    register_fake_adapter()
    FakeAdapter.worlds.clear()
    path = tmp_path / "unifier.yaml"
    path.write_text(TWO_INSTANCES)
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    apply(catalog, load_files([path]))
    yield catalog
    catalog.close()
    FakeAdapter.worlds.clear()


def requests(instance: str) -> int:
    return FakeAdapter.worlds[instance].requests if instance in FakeAdapter.worlds else 0


async def test_each_instance_syncs_on_its_own_poll_interval_or_when_woken(two_instances):
    loop = Reconciler(two_instances, interval=0)
    first = await loop.cycle()
    assert sorted(r.instance for r in first.synced) == ["fast", "slow"]
    slow_before = requests("slow")

    second = await loop.cycle()
    assert [r.instance for r in second.synced] == ["fast"]
    assert requests("slow") == slow_before  # nothing asked of the slow tool

    loop.wake("slow")
    third = await loop.cycle()
    assert sorted(r.instance for r in third.synced) == ["fast", "slow"]


async def test_a_wake_up_cuts_the_sleep_short(two_instances):
    loop = Reconciler(two_instances, interval=30)
    await loop.cycle()
    began = time.monotonic()
    waiter = asyncio.create_task(loop._sleep())
    await asyncio.sleep(0.05)
    loop.wake("slow")
    await asyncio.wait_for(waiter, timeout=5)
    assert time.monotonic() - began < 5


async def test_stop_ends_the_loop_after_the_current_cycle(two_instances):
    loop = Reconciler(two_instances, interval=30)
    runner = asyncio.create_task(loop.run())
    await asyncio.sleep(0.3)
    loop.stop()
    await asyncio.wait_for(runner, timeout=5)  # would sleep 30 s without stop()


CRON = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: hosts}
spec:
  adapter: cron
  config: {crontabs: [./crontab], spool: ./spool}
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_unifier_run_exits_0_on_sigterm_and_sigint(sig, tmp_path, unifier_home):
    (tmp_path / "crontab").write_text("# unifier: name=x\n0 3 * * * true\n")
    (tmp_path / "unifier.yaml").write_text(CRON)
    assert run_cli("apply", "-f", str(tmp_path / "unifier.yaml")).exit_code == 0
    env = {**os.environ, "UNIFIER_HOME": unifier_home}
    proc = subprocess.Popen([sys.executable, "-m", "unifier", "run", "--no-listen", "--interval", "0.2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        catalog = Catalog.open()
        # wait until the loop has done real work: the instance was synced
        while catalog.get_sync_state("hosts").last_sync_at is None:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        catalog.close()
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "stopped" in stderr


def test_json_logs_are_one_object_per_line_and_unifier_leader_names_the_replica(tmp_path, unifier_home):
    (tmp_path / "crontab").write_text("# unifier: name=x\n0 3 * * * true\n")
    (tmp_path / "unifier.yaml").write_text(CRON)
    assert run_cli("apply", "-f", str(tmp_path / "unifier.yaml")).exit_code == 0
    env = {**os.environ, "UNIFIER_HOME": unifier_home}
    done = subprocess.run([sys.executable, "-m", "unifier", "run", "--no-listen", "--cycles", "2",
                           "--replica-id", "replica-a", "--log-format", "json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["logger"] == "unifier.leader" and "replica-a leads" in e["message"] for e in entries)
    assert entries[-1]["message"] == "stopped"

    shown = run_cli("leader", "-o", "json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["replica"] == "replica-a"
    assert "led by replica-a" in run_cli("instances").stdout


def test_a_bad_log_format_or_replica_id_is_bad_input(unifier_home):
    assert run_cli("run", "--log-format", "xml").exit_code == 2
    assert run_cli("run", "--replica-id", "").exit_code == 2
