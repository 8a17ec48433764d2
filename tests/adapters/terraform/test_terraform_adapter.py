"""Terraform adapter behaviour a user relies on, against the real terraform binary and
null provider, offline: actions, what a run records, concurrency, observed applies,
a killed runner, and clear errors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from unifier.adapters.terraform.adapter import TerraformAdapter
from unifier.adapters.terraform.command import terraform_env
from unifier.errors import JobBusy, NotFound, ToolUnavailable, TriggerRefused
from unifier.model import CauseKind, RunState
from unifier.testing.conformance import wait_terminal


def firing() -> str:
    return f"test-{uuid.uuid4().hex}"


def home_is_empty(home: str) -> bool:
    return not any(Path(home).iterdir())


async def run_to_end(adapter: TerraformAdapter, job: str, params: dict, within: float = 60):
    run = await adapter.trigger(job, params, firing())
    return await wait_terminal(adapter, job, run.run_id, within)


def outside_terraform(tf_binary: Path, root: Path, *args: str, mirror: Path | None = None,
                      wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    """Run terraform in ``root`` the way a person at a shell would, not through unifier."""
    env = terraform_env(os.environ)
    if mirror is not None:
        subprocess.run([str(tf_binary), "init", "-input=false", "-no-color", f"-plugin-dir={mirror}"],
                       cwd=root, env=env, check=True, capture_output=True)
    argv = [str(tf_binary), *args]
    if wait:
        return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    return subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def processes_in(root: Path) -> list[str]:
    """Names of the processes whose working directory is ``root`` (terraform, its
    provider plugins, the provisioner's shell and its children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(root):
                    found.append((entry / "comm").read_text().strip())
            except OSError:
                continue
    return found


async def wait_until(predicate, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- actions


async def test_plan_apply_destroy_record_resources_and_outputs(
        make_adapter, roots_dir: Path, offline_env: dict[str, str]) -> None:
    adapter = make_adapter()  # default_action: plan
    state_file = roots_dir / "hello" / "terraform.tfstate"

    plan = await run_to_end(adapter, "hello", {"greeting": "hi", "size": 2})
    assert (plan.state, plan.native_state) == (RunState.SUCCEEDED, "planned")
    assert plan.details["action"] == "plan"
    assert plan.details["resources"] == {"add": 2, "change": 0, "remove": 0}
    assert {p["address"] for p in plan.details["planned"]} == {
        "null_resource.greeter[0]", "null_resource.greeter[1]"}
    assert not state_file.exists(), "a plan changes nothing"

    apply = await run_to_end(adapter, "hello", {"action": "apply", "greeting": "hi", "size": 2})
    assert (apply.state, apply.native_state) == (RunState.SUCCEEDED, "applied")
    assert apply.parameters == {"action": "apply", "greeting": "hi", "size": 2}
    assert apply.details["resources"] == {"add": 2, "change": 0, "remove": 0}
    assert apply.details["outputs"] == {"greeting": "hi", "secret_word": "(sensitive)"}
    assert apply.details["exit_code"] == 0
    assert apply.started_at <= apply.ended_at
    log = await adapter.logs("hello", apply.run_id)
    assert "Apply complete! Resources: 2 added" in log and "hi" in log
    assert "swordfish" not in log + json.dumps(apply.details)
    [job] = [j for j in await adapter.discover() if j.native_id == "hello"]
    assert job.extra["resources"] == 2 and job.extra["backend"] == "local"

    again = await run_to_end(adapter, "hello", {"action": "apply", "greeting": "hi", "size": 2})
    assert (again.state, again.native_state) == (RunState.SUCCEEDED, "no-changes")

    destroy = await run_to_end(adapter, "hello", {"action": "destroy", "greeting": "hi", "size": 2})
    assert (destroy.state, destroy.native_state) == (RunState.SUCCEEDED, "destroyed")
    assert destroy.details["resources"] == {"add": 0, "change": 0, "remove": 2}

    init = await run_to_end(adapter, "hello", {"action": "init"})
    assert (init.state, init.native_state) == (RunState.SUCCEEDED, "initialized")

    # all of it offline: terraform wrote nothing to the empty HOME (no checkpoint call)
    assert home_is_empty(offline_env["HOME"])


async def test_failed_apply_records_the_diagnostic(make_adapter) -> None:
    adapter = make_adapter(default_action="apply")
    run = await run_to_end(adapter, "boom", {})
    assert (run.state, run.native_state) == (RunState.FAILED, "errored")
    assert run.details["exit_code"] == 1
    assert run.details["errored"] == ["null_resource.boom"]
    assert run.details["diagnostics"][0]["summary"] == "local-exec provisioner error"
    assert "about to fail" in await adapter.logs("boom", run.run_id)


async def test_undeclared_variable_fails_with_terraforms_reason(make_adapter) -> None:
    run = await run_to_end(make_adapter(), "boom", {"nosuch": "x"})
    assert run.state == RunState.FAILED
    assert "undeclared variable" in run.details["diagnostics"][0]["summary"]


async def test_bad_trigger_requests_are_refused(make_adapter) -> None:
    adapter = make_adapter()
    with pytest.raises(TriggerRefused, match="'deploy' is not one of init, plan, apply, destroy"):
        await adapter.trigger("hello", {"action": "deploy"}, firing())
    with pytest.raises(TriggerRefused, match="'bad name'"):
        await adapter.trigger("hello", {"bad name": 1}, firing())
    with pytest.raises(NotFound, match="no such terraform root"):
        await adapter.trigger("nowhere", {}, firing())
    with pytest.raises(NotFound):
        await adapter.status("hello", "tf-0000")


# --------------------------------------------------------------------------- concurrency


async def test_second_trigger_on_a_busy_root_is_refused_and_cancel_stops_it(
        make_adapter, roots_dir: Path) -> None:
    adapter = make_adapter(default_action="apply")
    first = await adapter.trigger("sleepy", {}, firing())
    assert first.state == RunState.RUNNING and first.native_state == "applying"

    with pytest.raises(JobBusy, match=first.run_id):
        await adapter.trigger("sleepy", {}, firing())
    # a retry of the first firing is not a second run: it adopts the first
    other = make_adapter(instance=adapter.instance, default_action="apply")
    assert (await other.trigger("sleepy", {}, first.cause.firing_id)).run_id == first.run_id

    await adapter.cancel("sleepy", first.run_id)
    final = await wait_terminal(adapter, "sleepy", first.run_id, 15)  # sleeps 20 s
    assert (final.state, final.native_state) == (RunState.CANCELLED, "cancelled")
    # terraform stopped, and so did the provisioner's `sleep` under `sh -c`
    await wait_until(lambda: not processes_in(roots_dir / "sleepy"), 10, "terraform's processes to end")
    # the root is free again
    done = await run_to_end(adapter, "sleepy", {"seconds": 0})
    assert done.state == RunState.SUCCEEDED


async def test_state_lock_held_outside_unifier_fails_the_run(
        make_adapter, roots_dir: Path, tf_binary: Path, plugin_mirror: Path) -> None:
    adapter = make_adapter(default_action="apply")
    root = roots_dir / "sleepy"
    outside = outside_terraform(tf_binary, root, "apply", "-auto-approve", "-input=false",
                                "-var", "seconds=4", mirror=plugin_mirror, wait=False)
    try:
        await wait_until((root / ".terraform.tfstate.lock.info").exists, 20, "the outside apply's lock")
        run = await run_to_end(adapter, "sleepy", {"seconds": 0})
        assert (run.state, run.native_state) == (RunState.FAILED, "locked")
        assert run.details["diagnostics"][0]["summary"] == "Error acquiring the state lock"
        assert "Lock Info" in run.details["diagnostics"][0]["detail"]
    finally:
        assert outside.wait(timeout=60) == 0


# --------------------------------------------------------------------------- observed applies


async def test_apply_made_outside_unifier_appears_as_a_run(
        make_adapter, roots_dir: Path, tf_binary: Path, plugin_mirror: Path) -> None:
    adapter = make_adapter(default_action="apply")
    root = roots_dir / "hello"
    baseline = await adapter.changes(None)

    ours = await run_to_end(adapter, "hello", {"greeting": "one"})
    after_ours = await adapter.changes(baseline.watermark)
    assert [(r.run_id, r.native_state) for r in after_ours.runs] == [(ours.run_id, "applied")], (
        "unifier's own apply explains the new serial")

    done = outside_terraform(tf_binary, root, "apply", "-auto-approve", "-input=false",
                             "-var", "greeting=two")
    assert done.returncode == 0, done.stderr
    state = json.loads((root / "terraform.tfstate").read_text())
    seen = await adapter.changes(after_ours.watermark)
    [external] = seen.runs
    assert external.job == adapter.job_uri("hello")
    assert (external.state, external.native_state) == (RunState.SUCCEEDED, "applied-externally")
    assert external.cause.kind == CauseKind.EXTERNAL
    assert external.details["serial"] == state["serial"]
    assert external.details["lineage"] == state["lineage"]
    mtime = datetime.fromtimestamp((root / "terraform.tfstate").stat().st_mtime, UTC)
    assert external.ended_at == external.started_at == mtime
    assert (await adapter.status("hello", external.run_id)).native_state == "applied-externally"
    assert f"serial {state['serial']}" in await adapter.logs("hello", external.run_id)

    quiet = await adapter.changes(seen.watermark)
    assert quiet.runs == [], "an observed apply is reported once"
    assert quiet.requests == 1, "an unchanged state file is not read again"


async def test_outside_apply_between_unifier_runs_is_noticed(
        make_adapter, roots_dir: Path, tf_binary: Path) -> None:
    adapter = make_adapter(default_action="apply")
    root = roots_dir / "hello"
    await run_to_end(adapter, "hello", {"greeting": "one"})
    baseline = await adapter.changes(None)
    done = outside_terraform(tf_binary, root, "apply", "-auto-approve", "-input=false",
                             "-var", "greeting=two")
    assert done.returncode == 0, done.stderr
    serial_outside = json.loads((root / "terraform.tfstate").read_text())["serial"]
    ours = await run_to_end(adapter, "hello", {"greeting": "three"})
    seen = await adapter.changes(baseline.watermark)
    by_state = {r.native_state: r for r in seen.runs}
    assert set(by_state) == {"applied", "applied-externally"}
    assert by_state["applied-externally"].details["serial"] == serial_outside
    assert by_state["applied"].run_id == ours.run_id


async def test_named_workspace_state_is_observed(
        make_adapter, roots_dir: Path, tf_binary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = make_adapter(default_action="apply", workspace="staging")
    ours = await run_to_end(adapter, "hello", {})
    assert ours.native_state == "applied"
    assert (roots_dir / "hello" / "terraform.tfstate.d" / "staging" / "terraform.tfstate").exists()
    baseline = await adapter.changes(None)
    monkeypatch.setenv("TF_WORKSPACE", "staging")
    done = outside_terraform(tf_binary, roots_dir / "hello", "apply", "-auto-approve",
                             "-input=false", "-var", "greeting=other")
    assert done.returncode == 0, done.stderr
    seen = await adapter.changes(baseline.watermark)
    assert [r.native_state for r in seen.runs] == ["applied-externally"]


# --------------------------------------------------------------------------- a killed runner


async def test_killed_runner_leaves_no_run_running(make_adapter, roots_dir: Path) -> None:
    adapter = make_adapter(default_action="apply")
    baseline = await adapter.changes(None)
    run = await adapter.trigger("sleepy", {}, firing())
    runner = adapter.spool.get(run.run_id)
    assert runner is not None and runner.pid
    root = roots_dir / "sleepy"
    # kill it while the provisioner sleeps, not during init
    await wait_until(lambda: "sleep" in processes_in(root), 20, "the provisioner to start")

    os.kill(runner.pid, signal.SIGKILL)
    # terraform notices its runner died (PR_SET_PDEATHSIG) and stops, with its provisioner
    await wait_until(lambda: not processes_in(root), 15, "terraform to stop after its runner died")

    seen = await adapter.changes(baseline.watermark)
    [lost] = [r for r in seen.runs if r.run_id == run.run_id]
    assert (lost.state, lost.native_state) == (RunState.FAILED, "lost")
    assert all(r.state != RunState.RUNNING for r in seen.runs)
    assert (await adapter.status("sleepy", run.run_id)).state == RunState.FAILED
    # the root is usable again: the kernel released the runner's root lock
    assert (await run_to_end(adapter, "sleepy", {"seconds": 0})).state == RunState.SUCCEEDED


# --------------------------------------------------------------------------- configuration


async def test_roots_from_globs_with_shared_basenames(make_adapter, tmp_path: Path) -> None:
    for sub in ("prod/network", "staging/network", "shared/dns"):
        (tmp_path / "infra" / sub).mkdir(parents=True)
        (tmp_path / "infra" / sub / "main.tf").write_text("")
    (tmp_path / "infra" / "notes").mkdir()  # no *.tf: not a root
    adapter = make_adapter(roots=[str(tmp_path / "infra" / "**"), str(tmp_path / "infra" / "notes")])
    ids = sorted(job.native_id for job in await adapter.discover())
    assert ids == ["dns", "prod/network", "staging/network"]
    health = await adapter.health()
    assert not health.ok and "notes holds no *.tf files" in health.message


async def test_missing_binary_is_a_clear_error(make_adapter, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither terraform nor tofu here
    adapter = make_adapter(binary=None)
    health = await adapter.health()
    assert not health.ok and "UNIFIER_TERRAFORM_BINARY" in health.message
    with pytest.raises(ToolUnavailable, match="no terraform executable found"):
        await adapter.trigger("hello", {}, firing())


async def test_remote_backend_roots_are_flagged_as_not_observed(make_adapter, tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    (root / "main.tf").write_text('terraform {\n  backend "s3" {}\n}\n')
    adapter = make_adapter(roots=[str(root)])
    [job] = await adapter.discover()
    assert job.extra["backend"] == "s3" and job.extra["external_applies_observed"] is False
    health = await adapter.health()
    assert health.details["not_observed"] == {"remote": "s3"}


def test_registered_through_the_entry_point() -> None:
    from unifier.plugins import adapter_registry

    spec = adapter_registry().get("terraform")
    assert spec.load() is TerraformAdapter
    schema = spec.settings.model_json_schema()
    assert all(field.get("description") for field in schema["properties"].values())
    settings = spec.settings.model_validate({"roots": ["infra/*"]}, context={"base_dir": "/etc/unifier"})
    assert settings.roots == ["/etc/unifier/infra/*"]


# --------------------------------------------------------------------------- the demo roots


async def test_demo_roots_apply_offline_through_a_filesystem_mirror(
        make_adapter, tmp_path: Path, plugin_mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the README demo does: no -plugin-dir, a CLI config with a filesystem_mirror."""
    import shutil

    from unifier.adapters.terraform.testing import write_cli_config

    demo = Path(__file__).parents[3] / "examples" / "demo" / "terraform"
    shutil.copytree(demo, tmp_path / "demo", ignore=shutil.ignore_patterns(
        ".terraform", "*.tfstate*", ".terraform.lock.hcl"))
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(write_cli_config(tmp_path / "demo.tfrc", plugin_mirror)))
    adapter = make_adapter(roots=[str(tmp_path / "demo" / "*")], plugin_dir=None, default_action="apply")
    assert sorted(job.native_id for job in await adapter.discover()) == ["app", "network"]
    network = await run_to_end(adapter, "network", {"cidr": "10.1.0.0/16"})
    assert network.native_state == "applied", network.details
    assert network.details["outputs"]["subnet_count"] == 2
    app = await run_to_end(adapter, "app", {"version_tag": "v2", "replicas": 2})
    assert app.native_state == "applied", app.details
    assert app.details["outputs"] == {"deployed_version": "v2"}
    assert app.details["resources"] == {"add": 2, "change": 0, "remove": 0}


def test_default_spool_is_under_unifier_home(offline_env: dict[str, str]) -> None:
    from unifier.adapters.terraform.settings import TerraformSettings

    adapter = TerraformAdapter("infra", TerraformSettings(roots=["/nowhere"]))
    assert adapter.spool.path == Path(offline_env["UNIFIER_HOME"]) / "spool" / "terraform" / "infra"


async def test_runner_that_finds_its_root_taken_ends_locked(make_adapter, roots_dir: Path,
                                                            tf_binary: Path) -> None:
    """Two triggers racing past the busy check: the second runner finds the root's lock
    taken and ends ``locked``, naming the run that holds it, without running terraform."""
    from unifier.adapters.terraform.runner import Request, acquire_root, run

    adapter = make_adapter()
    root = str(roots_dir / "hello")
    held = acquire_root(adapter.spool, root, "tf-holder")
    assert held is not None
    try:
        with pytest.raises(JobBusy, match="tf-holder"):
            await adapter.trigger("hello", {}, firing())
        run(str(adapter.spool.path), "tf-second", "hello",
            Request(root=root, action="apply", binary=str(tf_binary)))
    finally:
        os.close(held)
    second = await adapter.status("hello", "tf-second")
    assert (second.state, second.native_state) == (RunState.FAILED, "locked")
    assert "run tf-holder is running on" in second.details["diagnostics"][0]["detail"]
    assert not (roots_dir / "hello" / ".terraform").exists(), "terraform never ran"
