"""A catalog that real adapters filled, served by a real ``unifier serve``, and a real
browser (Debian's chromium through Playwright) to look at it.

The catalog: the cross-tool chain of examples/chain run for real (cron -> Terraform
apply -> cron, under a real ``unifier run`` loop, offline terraform), plus a second cron
instance ``ops`` whose jobs are triggered through the CLI: one that fails, one that
succeeds, and a slow one the live test starts while a page is open.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.harness import Tab, chromium_problem, launch, serve

EXAMPLE = Path(__file__).parents[2] / "examples" / "chain"
OPS_CRONTAB = """\
MAILTO=""
# unifier: name=flaky
*/30 * * * *  echo "checking the disk..."; echo "disk check failed" >&2; exit 3
# unifier: name=heartbeat
* * * * *  echo "heartbeat"
# unifier: name=slow
0 3 * * *  echo "slow job starting"; sleep 6; echo "slow job done"
"""
OPS_INSTANCE = """
---
apiVersion: unifier/v1
kind: Instance
metadata: {name: ops}
spec:
  adapter: cron
  poll_interval: 10s
  config:
    crontabs: [./ops.crontab]
"""


def _load_chain_demo() -> Any:
    spec = importlib.util.spec_from_file_location("chain_demo_for_dashboard", EXAMPLE / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Demo:
    """The filled catalog's home and the environment the CLI runs in."""

    def __init__(self, workdir: Path, env: dict[str, str], chain_module: Any, last_run: dict[str, Any]):
        self.workdir = workdir
        self.env = env
        self.chain = chain_module
        self.last_run = last_run  # the chain's last run (cron://hosts/report)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "unifier", *args], env=self.env, text=True,
                              capture_output=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"unifier {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    workdir = tmp_path_factory.mktemp("dashboard")
    chain = _load_chain_demo()
    env = chain.prepare(workdir)
    example = workdir / "example"
    (example / "ops.crontab").write_text(OPS_CRONTAB)
    with open(example / "unifier.yaml", "a") as fh:
        fh.write(OPS_INSTANCE)
    last = chain.run_chain(workdir, env)
    demo = Demo(workdir, env, chain, last)
    assert demo.cli("trigger", "cron://ops/flaky", "--wait", check=False).returncode != 0  # it exits 3
    demo.cli("trigger", "cron://ops/heartbeat", "--wait")
    demo.cli("sync")
    return demo


@pytest.fixture(scope="session")
def server(demo, tmp_path_factory) -> Iterator[str]:
    with serve(demo.env, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test module: Playwright's sync API keeps an asyncio loop running
    while it is open, which must be over before the next module's async tests start."""
    problem = chromium_problem()
    if problem:
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def tab(browser, server) -> Iterator[Tab]:
    """A 1280x800 tab that may reach the server under test and nothing else."""
    tab = Tab(browser, server)
    yield tab
    tab.close()
