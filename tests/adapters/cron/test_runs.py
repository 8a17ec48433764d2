"""Runs recorded by the real `unifier exec` wrapper, read back through the adapter."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unifier.adapter import run_id_for_firing
from unifier.errors import NotFound, TriggerRefused
from unifier.model import CauseKind, RunState
from unifier.testing.conformance import wait_terminal

WRAPPER = [sys.executable, "-m", "unifier.adapters.cron.wrapper"]


def wrapper(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*WRAPPER, *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})}, **kw)


def append_bytes(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def adapter(make_adapter):
    return make_adapter("# unifier: name=report\n*/5 * * * * echo report\n")


async def test_wrapper_records_a_scheduled_run_and_passes_output_through(adapter):
    spool = str(adapter.spool.path)
    done = wrapper("--job", "cron://hosts/report", "--spool", spool, "--",
                   "echo out; echo err >&2; exit 3")
    assert done.returncode == 3  # the command's own exit status
    assert (done.stdout, done.stderr) == ("out\n", "err\n")  # what cron mails stays the same
    changes = await adapter.changes(None)
    (run,) = changes.runs
    assert run.job == "cron://hosts/report"
    assert run.state == RunState.FAILED and run.native_state == "failed"
    assert run.details["exit_code"] == 3 and "err" in run.details["output_tail"]
    assert run.cause.kind == CauseKind.SCHEDULE
    assert run.started_at <= run.ended_at
    assert set((await adapter.logs("report", run.run_id)).splitlines()) == {"out", "err"}


async def test_success_several_arguments_and_signals(adapter):
    spool = str(adapter.spool.path)
    assert wrapper("--job", "cron://hosts/report", "--spool", spool, "--", "printf", "%s", "-n").stdout == "-n"
    killed = wrapper("--job", "cron://hosts/report", "--spool", spool, "--", "kill -TERM $$")
    assert killed.returncode == 128 + signal.SIGTERM
    runs = sorted((await adapter.changes(None)).runs, key=lambda r: r.version)
    assert [(r.state, r.native_state) for r in runs] == [
        (RunState.SUCCEEDED, "succeeded"), (RunState.FAILED, "killed")]


def test_wrapper_finds_the_spool_by_flag_env_or_instance(tmp_path):
    home = tmp_path / "home"
    wrapper("--job", "cron://web-1/x", "--", "true", env={"UNIFIER_HOME": str(home)})
    assert (home / "spool/cron/web-1/journal.jsonl").read_text().count('"rec":"end"') == 1
    other = tmp_path / "other"
    wrapper("--job", "cron://web-1/x", "--", "true",
            env={"UNIFIER_HOME": str(home), "UNIFIER_SPOOL": str(other)})
    assert (other / "journal.jsonl").exists()
    bad = wrapper("--job", "http://x/y", "--", "true")
    assert bad.returncode == 2 and "cron job URI" in bad.stderr


def test_wrapper_runs_the_command_even_if_the_spool_is_unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = wrapper("--job", "cron://h/x", "--spool", str(blocker / "spool"), "--", "echo still ran")
    assert done.stdout == "still ran\n" and "running unrecorded" in done.stderr


async def test_trigger_passes_parameters_and_input(make_adapter):
    adapter = make_adapter(
        "GREETING=from crontab\n"
        "# unifier: name=env\n"
        '* * * * * echo "$GREETING|$UNIFIER_PARAM_TARGET_HOST|$UNIFIER_JOB|$PATH"; cat%line one%line two\n')
    run = await adapter.trigger("env", {"target-host": "db1", "PATH": "/evil"}, "firing-1")
    assert run.run_id == run_id_for_firing("cron://hosts/env\nfiring-1", prefix="trig")
    final = await wait_terminal(adapter, "env", run.run_id, 20)
    assert final.state == RunState.SUCCEEDED
    assert final.parameters == {"target-host": "db1", "PATH": "/evil"}
    assert final.cause.kind == CauseKind.TRIGGER and final.cause.firing_id == "firing-1"
    log = await adapter.logs("env", run.run_id)
    # a parameter never overrides a real variable: cron's PATH stays
    assert log == "from crontab|db1|cron://hosts/env|/usr/bin:/bin\nline one\nline two\n"


async def test_concurrent_triggers_of_one_firing_start_one_process(make_adapter):
    adapter = make_adapter("# unifier: name=slow\n* * * * * sleep 1; echo done\n")
    other = make_adapter("# unifier: name=slow\n* * * * * sleep 1; echo done\n")  # a second unifier
    runs = await asyncio.gather(*(a.trigger("slow", {}, "same-firing") for a in (adapter, other, adapter)))
    assert len({r.run_id for r in runs}) == 1
    await wait_terminal(adapter, "slow", runs[0].run_id, 20)
    journal = adapter.spool.journal.read_text()
    assert journal.count('"rec":"start"') == 1 and journal.count('"rec":"end"') == 1
    assert (await adapter.logs("slow", runs[0].run_id)) == "done\n"


async def test_kill_9_of_the_wrapper_leaves_no_run_running(adapter):
    spool = str(adapter.spool.path)
    first = await adapter.changes(None)
    proc = await asyncio.to_thread(
        subprocess.Popen, [*WRAPPER, "--job", "cron://hosts/report", "--spool", spool, "--", "sleep 30"])
    adapter.spool.ensure()
    wait_for(lambda: '"rec":"start"' in adapter.spool.journal.read_text())
    running = await adapter.changes(first.watermark)
    (run,) = running.runs
    assert run.state == RunState.RUNNING
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after = await adapter.changes(running.watermark)
    (lost,) = after.runs
    assert (lost.run_id, lost.state, lost.native_state) == (run.run_id, RunState.FAILED, "lost")
    assert lost.version > run.version and lost.started_at == run.started_at
    assert (await adapter.status("report", run.run_id)).state == RunState.FAILED
    quiet = await adapter.changes(after.watermark)
    assert all(r.state == RunState.FAILED for r in quiet.runs)
    assert json.loads(quiet.watermark)["open"] == {}


async def test_a_reused_pid_is_not_mistaken_for_the_runner(adapter):
    # a start record naming a live process (this one) with another start time
    adapter.spool.append({"rec": "start", "run_id": "r-reused", "job": "cron://hosts/report",
                          "pid": os.getpid(), "pid_start": 1, "host": adapter.spool.host})
    (run,) = (await adapter.changes(None)).runs
    assert run.native_state == "lost"


async def test_changes_reads_only_new_bytes(adapter):
    spool = str(adapter.spool.path)
    for _ in range(3):
        wrapper("--job", "cron://hosts/report", "--spool", spool, "--", "true")
    first = await adapter.changes(None)
    assert len(first.runs) == 3
    size = adapter.spool.journal.stat().st_size
    wrapper("--job", "cron://hosts/report", "--spool", spool, "--", "true")
    found = await asyncio.to_thread(adapter.spool.read, first.watermark)
    assert found.bytes_read == adapter.spool.journal.stat().st_size - size
    second = await adapter.changes(first.watermark)
    assert len(second.runs) == 1 and second.runs[0].run_id not in {r.run_id for r in first.runs}


async def test_a_crash_leaves_a_readable_spool(adapter):
    spool = str(adapter.spool.path)
    wrapper("--job", "cron://hosts/report", "--spool", spool, "--", "true")
    append_bytes(adapter.spool.journal, b'{"rec":"start","run_id":"torn","job":"cron://ho')  # died mid-record
    first = await adapter.changes(None)
    assert len(first.runs) == 1 and not first.notes  # the torn line may still be completing
    wrapper("--job", "cron://hosts/report", "--spool", spool, "--", "exit 1")
    second = await adapter.changes(first.watermark)
    assert [r.state for r in second.runs] == [RunState.FAILED]
    assert second.notes and "torn" in second.notes[0]
    assert len((await adapter.changes(None)).runs) == 2


async def test_runner_that_died_before_starting_is_failed(adapter):
    def claim_and_die(firing: str) -> str:
        run_id = run_id_for_firing(f"cron://hosts/report\n{firing}", prefix="trig")
        code = (f"from unifier.spool import Spool; "
                f"Spool({str(adapter.spool.path)!r}).claim({run_id!r}, 'cron://hosts/report')")
        subprocess.run([sys.executable, "-c", code], check=True)
        return run_id

    # noticed by a trigger of the same firing (which must not start it again) ...
    run_id = claim_and_die("died-early")
    run = await adapter.trigger("report", {}, "died-early")
    assert (run.run_id, run.state, run.native_state) == (run_id, RunState.FAILED, "lost")
    # ... and by status
    run_id = claim_and_die("died-too")
    lost = await adapter.status("report", run_id)
    assert (lost.state, lost.native_state) == (RunState.FAILED, "lost")
    assert '"rec":"start"' not in adapter.spool.journal.read_text()  # nothing ran


async def test_cancel_stops_the_command_and_records_cancelled(make_adapter, tmp_path):
    marker = tmp_path / "survived"
    adapter = make_adapter(f"# unifier: name=slow\n* * * * * sleep 30; touch {marker}\n")
    run = await adapter.trigger("slow", {}, "cancel-me")
    await adapter.cancel("slow", run.run_id)
    final = await wait_terminal(adapter, "slow", run.run_id, 20)
    assert (final.state, final.native_state) == (RunState.CANCELLED, "cancelled")
    await asyncio.sleep(0.3)
    assert not marker.exists()
    with pytest.raises(NotFound):
        await adapter.cancel("slow", "no-such-run")


async def test_runs_of_another_instance_in_a_shared_spool_are_ignored(adapter):
    wrapper("--job", "cron://elsewhere/report", "--spool", str(adapter.spool.path), "--", "true")
    assert (await adapter.changes(None)).runs == []


def test_cli_exec_through_typer(tmp_path):
    import typer
    from typer.testing import CliRunner

    from unifier.adapters.cron.cli import add_commands

    app = typer.Typer()
    app.callback()(lambda: None)
    add_commands(app)
    result = CliRunner().invoke(app, ["exec", "--job", "cron://h/x", "--spool", str(tmp_path), "--",
                                      "echo hi; exit 4"])
    assert (result.exit_code, result.output) == (4, "hi\n")
    assert Path(tmp_path / "journal.jsonl").read_text().count('"exit_code":4') == 1


async def test_a_journal_replaced_behind_the_watermark_is_read_again(adapter):
    spool = str(adapter.spool.path)
    for _ in range(2):
        wrapper("--job", "cron://hosts/report", "--spool", spool, "--", "true")
    first = await adapter.changes(None)
    adapter.spool.journal.unlink()  # someone cleared the spool
    for _ in range(3):  # the new journal grows past the old watermark's offset
        wrapper("--job=cron://hosts/report", f"--spool={spool}", "--", "true")
    again = await adapter.changes(first.watermark)
    assert len(again.runs) == 3 and "read again" in again.notes[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_as_root_a_system_line_runs_as_its_user(make_adapter):
    adapter = make_adapter("# unifier: name=who\n* * * * * nobody id -un; echo $HOME $LOGNAME\n",
                           formats=["system"])
    run = await adapter.trigger("who", {}, "as-nobody")
    final = await wait_terminal(adapter, "who", run.run_id, 20)
    assert final.state == RunState.SUCCEEDED, final.details
    assert final.details["user"] == "nobody"
    import pwd

    home = pwd.getpwnam("nobody").pw_dir
    assert await adapter.logs("who", run.run_id) == f"nobody\n{home} nobody\n"
    missing = make_adapter("* * * * * no-such-user-x true\n", formats=["system"])
    (job,) = await missing.discover()
    with pytest.raises(TriggerRefused, match="no such user"):
        await missing.trigger(job.native_id, {}, "f")
