"""`unifier cron wrap` / `unwrap`: only the chosen lines change, and a wrapped line does
what the original line did, plus a recorded run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from unifier.adapters.cron import crontab
from unifier.plugins import installed_plugins
from unifier.spool import Spool

# bytes that must survive: CRLF, a non-UTF-8 byte, tabs, odd spacing, no final newline
ORIGINAL = (
    b"# backups \xff (latin-1 byte)\r\n"
    b"MAILTO=\"\"\n"
    b"# unifier: name=backup\n"
    b"30 2 * * *\t/usr/local/bin/backup --full  \n"
    b"@daily   find /tmp -name '*.tmp' -delete   # trailing comment stays in the command\n"
    b"*/5 * * * * date +\\%H:\\%M >> /tmp/x%stdin line\r\n"
    b"bad line\n"
    b"@hourly echo last"
)


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    installed_plugins().cli_commands.add_to(app, warn=pytest.fail)  # what the unifier CLI does at start
    return app


@pytest.fixture
def tab(tmp_path) -> Path:
    path = tmp_path / "crontab"
    path.write_bytes(ORIGINAL)
    return path


def invoke(app, *args):
    return CliRunner().invoke(app, ["cron", *map(str, args)])


def ids(path: Path) -> dict[int, str]:
    parsed = crontab.parse(str(path), "user")
    crontab.assign_ids([parsed])
    return {e.line: e.native_id for e in parsed.entries}


def test_wrap_changes_only_the_chosen_lines_and_keeps_a_backup(app, tab):
    before = ids(tab)
    result = invoke(app, "wrap", "--crontab", tab, "--job", "backup", "--job", before[6],
                    "--instance", "hosts", "--wrapper", "/opt/u/bin/unifier")
    assert result.exit_code == 0, result.output
    old_lines, new_lines = ORIGINAL.split(b"\n"), tab.read_bytes().split(b"\n")
    changed = [i + 1 for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b]
    assert changed == [4, 6] and len(old_lines) == len(new_lines)
    assert new_lines[3] == (b"30 2 * * *\t/opt/u/bin/unifier exec --job cron://hosts/backup -- "
                            b"'/usr/local/bin/backup --full  '")
    assert new_lines[5].endswith(b"'%stdin line\r")  # stdin part and CRLF untouched
    (backup,) = tab.parent.glob("crontab.unifier-bak.*")
    assert backup.read_bytes() == ORIGINAL
    assert ids(tab) == before  # ids survive wrapping


def test_dry_run_prints_the_diff_and_changes_nothing(app, tab):
    result = invoke(app, "wrap", "--crontab", tab, "--all", "--dry-run", "--instance", "hosts")
    assert result.exit_code == 0
    assert "-@hourly echo last" in result.output
    assert "+@hourly " in result.output and "exec --job cron://hosts/echo-last-" in result.output
    assert tab.read_bytes() == ORIGINAL
    assert not list(tab.parent.glob("crontab.unifier-bak.*"))


def test_wrap_is_idempotent_and_unwrap_restores_the_file(app, tab):
    assert invoke(app, "wrap", "--crontab", tab, "--all", "--instance", "hosts").exit_code == 0
    wrapped = tab.read_bytes()
    again = invoke(app, "wrap", "--crontab", tab, "--all", "--instance", "hosts")
    assert again.exit_code == 0 and "nothing to change" in again.output
    assert tab.read_bytes() == wrapped
    assert len(list(tab.parent.glob("crontab.unifier-bak.*"))) == 1
    assert invoke(app, "unwrap", "--crontab", tab, "--all").exit_code == 0
    assert tab.read_bytes() == ORIGINAL


def test_unknown_job_or_no_choice_is_a_usage_error(app, tab):
    result = invoke(app, "wrap", "--crontab", tab, "--job", "nope")
    assert result.exit_code == 2 and "no job 'nope'" in result.output and "backup" in result.output
    assert invoke(app, "wrap", "--crontab", tab).exit_code == 2
    assert invoke(app, "wrap", "--crontab", tab.parent / "missing", "--all").exit_code == 2
    assert tab.read_bytes() == ORIGINAL


# ---------------------------------------------------------------- the wrapped line still works


def cron_split(command: str) -> tuple[str, str | None]:
    """What cron does to a command before the shell sees it (Vixie cron's do_command.c,
    transliterated): the first unescaped % ends it, ``\\%`` is a %, the rest is stdin in
    which each unescaped % is a newline, ended by a newline (Debian's cron, measured)."""
    out, escaped = [], False
    for i, ch in enumerate(command):
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            out.append(ch)
            continue
        if ch == "%":
            data, escaped = [], False
            for c in command[i + 1:]:
                if escaped and c != "%":
                    data.append("\\")
                elif not escaped and c == "%":
                    c = "\n"
                escaped = c == "\\"
                if not escaped:
                    data.append(c)
            text = "".join(data) + ("\\" if escaped else "")
            return "".join(out), text + "\n" if text and not text.endswith("\n") else text
        out.append(ch)
    return "".join(out), None


def run_like_cron(command: str, env: dict[str, str]) -> str:
    shell_text, stdin = cron_split(command)
    done = subprocess.run(["/bin/sh", "-c", shell_text], input=stdin or "", capture_output=True,
                          text=True, env=env, timeout=30)
    return done.stdout + done.stderr


TRICKY = [
    "echo plain",
    "echo 'single quoted' \"double $HOME\" | tr a-z A-Z",
    "date -d @0 -u +\\%Y-\\%m-\\%d",
    "cat%first line%second \\% line",
    "printf '\\%s\\n' it\\'s; echo \"it's\"",
    "echo a\\\\%b",
    "for i in 1 2; do echo $i; done; (exit 0)",
]


@pytest.mark.parametrize("command", TRICKY)
def test_a_wrapped_line_runs_exactly_what_the_original_ran(tmp_path, command):
    shim = tmp_path / "bin" / "unifier"  # stands for the installed `unifier` script
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nshift\nexec {sys.executable} -m unifier.adapters.cron.wrapper "$@"\n')
    shim.chmod(0o755)
    spool = tmp_path / "spool"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh", "UNIFIER_SPOOL": str(spool)}
    wrapped = crontab.wrap_command(command, "cron://hosts/job", str(shim))
    assert crontab.unwrap_command(wrapped) == command
    assert run_like_cron(wrapped, env) == run_like_cron(command, env)
    (run,) = Spool(spool).read(None).runs
    assert run.native_state == "succeeded"
    assert Spool(spool).log_path(run.run_id).read_text() == run_like_cron(command, env)
    assert os.path.exists(spool / "journal.jsonl")
