"""The example chain (examples/chain) for real: cron -> Terraform apply -> cron.

Runs ``examples/chain/demo.py``'s steps (the real CLI, a real ``unifier run`` loop,
the real terraform binary with the null provider, offline), then checks run by run
what each tool did and why: every downstream run names its trigger and the exact
upstream run, and the parameters travelled down the chain.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from unifier.catalog import Catalog
from unifier.model import CauseKind, RunKey, RunState
from unifier.triggers.store import list_firings

EXAMPLE = Path(__file__).parents[2] / "examples" / "chain"


def load_demo():
    spec = importlib.util.spec_from_file_location("chain_demo", EXAMPLE / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """One run of the chain, checked by both tests (it takes several seconds)."""
    tmp_path = tmp_path_factory.mktemp("chain")
    demo = load_demo()
    try:
        env = demo.prepare(tmp_path)
    except FileNotFoundError as exc:  # pragma: no cover - the dev extra is required
        pytest.fail(f"the dev extra (bundled terraform, null provider) is missing: {exc}")
    last = demo.run_chain(tmp_path, env)
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'home' / 'unifier.db'}")
    yield demo, tmp_path, last, catalog
    catalog.close()


def only_run(catalog: Catalog, job: str):
    runs = catalog.list_runs(job=job)
    assert len(runs) == 1, [r.run_id for r in runs]
    return runs[0]


def test_the_example_chain_runs_each_job_once_because_of_the_one_before(chain):
    demo, workdir, last, catalog = chain
    extract = only_run(catalog, demo.FIRST)
    network = only_run(catalog, demo.MIDDLE)
    report = only_run(catalog, demo.LAST)
    assert last["run_id"] == report.run_id

    # 1. the cron job, started by hand
    assert extract.state == RunState.SUCCEEDED
    assert extract.cause.kind == CauseKind.MANUAL

    # 2. the terraform apply, because extract succeeded, with its run id as a variable
    assert network.state == RunState.SUCCEEDED and network.native_state == "applied"
    assert network.cause.kind == CauseKind.TRIGGER
    assert network.cause.trigger == "network-after-extract"
    assert network.cause.upstream_runs == [extract.key]
    assert network.parameters == {"action": "apply", "extract_run": extract.run_id}
    state = json.loads((workdir / "example" / "infra" / "network" / "terraform.tfstate").read_text())
    assert state["outputs"]["extract_run"]["value"] == extract.run_id

    # 3. the second cron job, because the apply succeeded, with both run ids
    assert report.state == RunState.SUCCEEDED
    assert report.cause.kind == CauseKind.TRIGGER
    assert report.cause.trigger == "report-after-network"
    assert report.cause.upstream_runs == [network.key]
    log = (workdir / "home" / "spool" / "cron" / "hosts" / "runs" / f"{report.run_id}.log").read_text()
    assert log.strip() == (f"report: network applied by run {network.run_id} "
                           f"(extract {extract.run_id})")

    # the ledger: one issued firing per link, each naming its runs in and out
    firings = {f.trigger: f for f in list_firings(catalog)}
    assert set(firings) == {"network-after-extract", "report-after-network"}
    assert firings["network-after-extract"].upstream_runs == [extract.key]
    assert firings["network-after-extract"].downstream_runs == [network.key]
    assert firings["report-after-network"].upstream_runs == [network.key]
    assert firings["report-after-network"].downstream_runs == [RunKey(job=demo.LAST, run_id=report.run_id)]
    assert {f.status for f in firings.values()} == {"issued"}
    assert network.cause.firing_id == firings["network-after-extract"].id


def test_why_on_the_last_run_names_every_upstream_run_back_to_the_first(chain):
    demo, workdir, last, catalog = chain
    extract = only_run(catalog, demo.FIRST)
    network = only_run(catalog, demo.MIDDLE)
    env = {**os.environ, "UNIFIER_HOME": str(workdir / "home")}
    text = demo.unifier(env, "why", demo.LAST, last["run_id"], quiet=True)
    lines = text.splitlines()
    order = [next(i for i, line in enumerate(lines) if needle in line)
             for needle in (last["run_id"], "report-after-network", network.run_id,
                            "network-after-extract", extract.run_id)]
    assert order == sorted(order)
    assert lines[-1].startswith(f"root cause: {demo.FIRST} run {extract.run_id}")
