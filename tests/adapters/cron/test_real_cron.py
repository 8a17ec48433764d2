"""The real Debian cron daemon runs wrapped lines: same effect as the original lines, and
every run recorded in the spool the adapter reads.

Needs Debian's ``cron`` (``apt-get install -y --no-install-recommends cron``) and root
(cron.d files must belong to root). Takes up to two minutes: cron runs jobs only at
minute boundaries.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from unifier.adapters.cron import crontab
from unifier.adapters.cron.adapter import CronAdapter
from unifier.adapters.cron.cli import default_executable
from unifier.adapters.cron.settings import CronSettings
from unifier.model import CauseKind, RunState

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cron") is None,
                       reason="Debian cron is not installed (apt-get install -y --no-install-recommends cron)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the cron daemon and /etc/cron.d need root"),
]

COMMANDS = {
    "plain": "echo plain",
    "quotes": "echo 'single quoted' \"double $HOME\" | tr a-z A-Z",
    "percent": "date -d @0 -u +\\%Y-\\%m-\\%d",
    "stdin": "cat%first line%second \\% line",
    "stdin2": "cat%ends with a newline%",
    "fails": "echo failing >&2; exit 3",
}


def _cron_running() -> bool:
    try:
        pid = int(Path("/run/crond.pid").read_text().split()[0])
        os.kill(pid, 0)
        return True
    except (OSError, ValueError, IndexError):
        return False


@pytest.fixture
def cron_daemon():
    """A running cron daemon: the machine's own, else one started for this test."""
    if _cron_running():
        yield
        return
    proc = subprocess.Popen(["cron", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    assert proc.poll() is None, "cron -f exited at once"
    yield
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


@pytest.fixture
def cron_d_file(tmp_path):
    path = Path("/etc/cron.d") / f"unifier-test-{secrets.token_hex(4)}"
    yield path
    path.unlink(missing_ok=True)


def _redirected(command: str, out: Path) -> str:
    head, rest = crontab.split_percent(command, unescape=False)
    return f"( {head} ) > {out} 2>&1" + ("%" + rest if rest is not None else "")


def test_debian_cron_runs_wrapped_lines_and_the_adapter_sees_the_runs(tmp_path, cron_daemon, cron_d_file):
    spool = tmp_path / "spool"
    lines = ["SHELL=/bin/sh", "PATH=/usr/bin:/bin", f"UNIFIER_SPOOL={spool}"]
    for name, command in COMMANDS.items():
        lines.append(f"* * * * * root {_redirected(command, tmp_path / f'{name}.orig')}")
        wrapped = crontab.wrap_command(_redirected(command, tmp_path / f"{name}.wrapped"),
                                       f"cron://hosts/{name}", default_executable())
        lines.append(f"# unifier: name={name}\n* * * * * root {wrapped}")
    tmp = cron_d_file.with_name("." + cron_d_file.name)  # cron ignores dot files
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o644)
    os.replace(tmp, cron_d_file)

    adapter = CronAdapter("hosts", CronSettings(crontabs=[str(cron_d_file)], spool=str(spool)))
    deadline = time.monotonic() + 130
    ended: dict[str, object] = {}
    watermark = None
    while len(ended) < len(COMMANDS) or not all((tmp_path / f"{n}.orig").exists() for n in COMMANDS):
        assert time.monotonic() < deadline, f"cron ran only {sorted(ended)} within 130 s"
        time.sleep(1)

        changes = asyncio.run(adapter.changes(watermark))
        watermark = changes.watermark
        for run in changes.runs:
            if run.state.terminal:
                ended.setdefault(run.job.rsplit("/", 1)[1], run)
    time.sleep(0.5)

    for name in COMMANDS:
        original = (tmp_path / f"{name}.orig").read_text()
        assert (tmp_path / f"{name}.wrapped").read_text() == original, name
        run = ended[name]
        assert run.cause.kind == CauseKind.SCHEDULE
        expected = RunState.FAILED if name == "fails" else RunState.SUCCEEDED
        assert run.state == expected, (name, run)
    # what cron feeds a command is what the adapter feeds it when triggered
    for name in ("stdin", "stdin2"):
        assert (tmp_path / f"{name}.orig").read_text() == crontab.split_percent(COMMANDS[name])[1]
    jobs = {job.native_id for job in asyncio.run(adapter.discover())}
    assert jobs >= set(COMMANDS)
