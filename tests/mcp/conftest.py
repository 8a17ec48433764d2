"""A real little world for the MCP tests: two teams' crontabs on the real cron adapter.

    cron://team-a/extract  --(load-after-extract)-->  cron://team-a/load   (fails: exit 3)
                           --(billing-after-extract)-> cron://team-b/billing

The team-a instance's configuration references ``${env:TEAM_A_DB_PASSWORD}`` and the
extract job prints that password, as a careless job does: get_logs must mask it.
Every step is the real CLI (apply, sync, trigger, a real ``unifier run`` loop firing
the triggers through the real ``unifier exec`` wrapper).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from unifier.catalog import Catalog
from unifier.model import RunState

SECRET = "hunter2-s3cret-value"
EXTRACT, LOAD, BILLING = "cron://team-a/extract", "cron://team-a/load", "cron://team-b/billing"

CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: team-a}
spec:
  adapter: cron
  config:
    crontabs: [./crontab-a]
    host: "${env:TEAM_A_DB_PASSWORD}"
---
apiVersion: unifier/v1
kind: Instance
metadata: {name: team-b}
spec:
  adapter: cron
  config:
    crontabs: [./crontab-b]
---
apiVersion: unifier/v1
kind: Trigger
metadata: {name: load-after-extract}
spec:
  when: {all: [{job: cron://team-a/extract}]}
  then: [{job: cron://team-a/load}]
---
apiVersion: unifier/v1
kind: Trigger
metadata: {name: billing-after-extract}
spec:
  when: {all: [{job: cron://team-a/extract}]}
  then: [{job: cron://team-b/billing}]
"""

CRONTAB_A = f"""\
# unifier: name=extract
0 2 * * * echo "connecting to db with password {SECRET}"; echo rows=42
# unifier: name=load
30 2 * * * echo "loading 42 rows"; echo "disk full" >&2; exit 3
"""

CRONTAB_B = """\
# unifier: name=billing
0 3 * * * echo "team-b billing done"
"""


@dataclass
class World:
    root: Path
    env: dict[str, str]
    catalog_url: str

    def unifier(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "unifier", *args], env=self.env, capture_output=True,
                              text=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"unifier {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def catalog(self) -> Catalog:
        return Catalog.open(self.catalog_url)

    def only_run(self, job: str):
        catalog = self.catalog()
        try:
            (run,) = catalog.list_runs(job=job)
            return run
        finally:
            catalog.close()


def _wait_terminal(world: World, jobs: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    catalog = world.catalog()
    try:
        while True:
            runs = {j: catalog.list_runs(job=j) for j in jobs}
            if all(rs and rs[0].state.terminal for rs in runs.values()):
                return
            assert time.monotonic() < deadline, f"timed out waiting for {jobs}: {runs}"
            time.sleep(0.2)
    finally:
        catalog.close()


@pytest.fixture(scope="package")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("mcp-world")
    (root / "unifier.yaml").write_text(CONFIG)
    (root / "crontab-a").write_text(CRONTAB_A)
    (root / "crontab-b").write_text(CRONTAB_B)
    home = root / "home"
    env = {**os.environ, "UNIFIER_HOME": str(home), "TEAM_A_DB_PASSWORD": SECRET}
    env.pop("UNIFIER_DATABASE_URL", None)
    env.pop("UNIFIER_SERVER", None)
    env.pop("UNIFIER_TOKEN", None)
    world = World(root, env, f"sqlite:///{home / 'unifier.db'}")
    world.unifier("apply", "-f", str(root / "unifier.yaml"))
    world.unifier("sync")
    loop = subprocess.Popen([sys.executable, "-m", "unifier", "run", "--no-listen", "--interval", "0.2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # the loop's first cycle records where the history starts
        started = json.loads(world.unifier("trigger", EXTRACT, "--wait", "-o", "json").stdout)
        assert started["state"] == RunState.SUCCEEDED.value
        _wait_terminal(world, [LOAD, BILLING])
    finally:
        loop.terminate()
        loop.wait(timeout=30)
    world.unifier("sync")
    return world


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")
