"""CLI commands of the cron adapter: ``unifier exec`` and ``unifier cron wrap|unwrap``.

Added through the ``unifier_cli_commands`` hook (``exec`` also as
a fast command, run without building the CLI).
``wrap`` edits only the command part of the chosen lines (every other byte of the file
is kept), keeps a backup ``FILE.unifier-bak.TIMESTAMP``, and does nothing to a line
already wrapped. To wrap a live user crontab, edit a copy and install it::

    crontab -l > /tmp/ct && unifier cron wrap --crontab /tmp/ct --all --instance hosts \\
        && crontab /tmp/ct
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from unifier.adapters.cron import crontab, wrapper

EXIT_FAILED, EXIT_USAGE = 1, 2


def default_instance() -> str:
    """The short host name, shaped as an instance name."""
    name = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    return name[:63].strip("-") or "cron"


def default_executable() -> str:
    """The ``unifier`` installed beside the running Python (cron's PATH will not find it)."""
    beside = Path(sys.executable).parent / "unifier"
    return str(beside) if beside.exists() else "unifier"


def exec_command(
    job: Annotated[str, typer.Option("--job", help="The job's URI, cron://INSTANCE/ID.")],
    command: Annotated[list[str], typer.Argument(
        help="The command, after `--`. One argument is run by $SHELL -c; several are executed directly.")],
    spool: Annotated[str | None, typer.Option(
        "--spool", help="Spool directory. Default: $UNIFIER_SPOOL, else $UNIFIER_HOME/spool/cron/INSTANCE.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id (default: cron-TIME-RANDOM).")] = None,
    firing_id: Annotated[str | None, typer.Option("--firing-id", hidden=True)] = None,
    params_json: Annotated[str | None, typer.Option("--params-json", hidden=True)] = None,
    cause: Annotated[str, typer.Option("--cause", hidden=True)] = "schedule",
    stdin: Annotated[str | None, typer.Option("--stdin", hidden=True)] = None,
    no_passthrough: Annotated[bool, typer.Option("--no-passthrough", hidden=True)] = False,
) -> None:
    """Run COMMAND as a recorded run of a cron job (use in crontab lines).

    Records start, end, exit code and the output's tail in the spool, passes the output
    through (so cron's MAILTO still works) and exits with the command's exit code.
    """
    try:
        params = json.loads(params_json) if params_json else {}
        code = wrapper.run(job, command, spool=spool, run_id=run_id, firing_id=firing_id,
                           params=params, cause=cause, stdin=stdin, passthrough=not no_passthrough)
    except (wrapper.UsageError, ValueError) as exc:
        typer.echo(f"unifier exec: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    raise typer.Exit(code)


def _rewrite(path: Path, fmt: str, ids: list[str], everything: bool, change) -> tuple[str, str, list[str]]:
    """Apply ``change(entry) -> new command | None`` to the chosen entries of ``path``.
    Returns (old text, new text, messages)."""
    if not path.is_file():
        typer.echo(f"error: {path} is not a crontab file", err=True)
        raise typer.Exit(EXIT_USAGE)
    if not ids and not everything:
        typer.echo("error: name the jobs with --job ID (repeatable) or use --all", err=True)
        raise typer.Exit(EXIT_USAGE)
    old = crontab.read_text(str(path))
    tab = crontab.parse(str(path), fmt, text=old)
    crontab.assign_ids([tab])
    by_id = {entry.native_id: entry for entry in tab.entries}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        typer.echo(f"error: no job {', '.join(map(repr, unknown))} in {path}; its jobs: "
                   f"{', '.join(sorted(by_id)) or 'none'}", err=True)
        raise typer.Exit(EXIT_USAGE)
    new, messages = old, []
    for entry in tab.entries:
        if not everything and entry.native_id not in ids:
            continue
        command = change(entry)
        if command is None:
            messages.append(f"unchanged  {entry.native_id} (line {entry.line})")
            continue
        new = crontab.replace_command(new, entry, command)
        messages.append(f"changed    {entry.native_id} (line {entry.line})")
    return old, new, messages


def _finish(path: Path, old: str, new: str, messages: list[str], dry_run: bool) -> None:
    for message in messages:  # to stderr: stdout carries only the diff of --dry-run
        typer.echo(message, err=True)
    if old == new:
        typer.echo("nothing to change", err=True)
        return
    if dry_run:
        diff = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                    fromfile=str(path), tofile=f"{path} (after)")
        text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                       for line in diff)
        typer.echo(text.encode("utf-8", "surrogateescape"), nl=False)  # the file's own bytes
        return
    backup = path.with_name(f"{path.name}.unifier-bak.{datetime.now():%Y%m%dT%H%M%S%f}")
    shutil.copy2(path, backup)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    crontab.write_text(tmp, new)
    shutil.copymode(path, tmp)
    os.replace(tmp, path)
    typer.echo(f"wrote {path} (backup: {backup})", err=True)


FileOpt = Annotated[Path, typer.Option("--crontab", help="The crontab file to edit.")]
JobOpt = Annotated[list[str] | None, typer.Option("--job", help="Id of a job to change (repeatable).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Change every entry of the file.")]
DryOpt = Annotated[bool, typer.Option("--dry-run", help="Print the diff; change nothing.")]
FormatOpt = Annotated[str, typer.Option("--format", help="auto, user or system (as in the instance config).")]


def wrap(
    crontab_file: FileOpt, job: JobOpt = None, all_: AllOpt = False, dry_run: DryOpt = False,
    instance: Annotated[str | None, typer.Option(
        "--instance", help="The cron instance name in job URIs (default: this host's short name).")] = None,
    spool: Annotated[str | None, typer.Option(
        "--spool", help="Spool the wrapper records into (default: the wrapper's own default).")] = None,
    executable: Annotated[str | None, typer.Option(
        "--wrapper",
        help="Path of the unifier command cron should call (default: the one beside this Python).")] = None,
    fmt: FormatOpt = "auto",
) -> None:
    """Insert `unifier exec` into chosen crontab lines so their runs are recorded."""
    name = instance or default_instance()
    exe = executable or default_executable()

    def change(entry: crontab.Entry) -> str | None:
        if entry.wrapped:
            return None
        return crontab.wrap_command(entry.command, f"cron://{name}/{entry.native_id}", exe, spool)

    old, new, messages = _rewrite(crontab_file, fmt, job or [], all_, change)
    _finish(crontab_file, old, new, messages, dry_run)


def unwrap(crontab_file: FileOpt, job: JobOpt = None, all_: AllOpt = False,
           dry_run: DryOpt = False, fmt: FormatOpt = "auto") -> None:
    """Remove the `unifier exec` wrapper from chosen crontab lines."""
    old, new, messages = _rewrite(crontab_file, fmt, job or [], all_,
                                  lambda entry: crontab.unwrap_command(entry.command))
    _finish(crontab_file, old, new, messages, dry_run)


def add_commands(app: typer.Typer) -> None:
    app.command("exec", context_settings={"allow_interspersed_args": False})(exec_command)
    group = typer.Typer(help="Cron helpers: wrap crontab lines so unifier records their runs.",
                        no_args_is_help=True)
    group.command("wrap")(wrap)
    group.command("unwrap")(unwrap)
    app.add_typer(group, name="cron")
