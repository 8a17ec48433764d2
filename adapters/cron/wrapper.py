"""``unifier exec``: the wrapper that records a cron job's runs in a spool.

In a crontab line (``unifier cron wrap`` inserts it)::

    */5 * * * *  /opt/unifier/bin/unifier exec --job cron://hosts/report -- 'report.sh > /tmp/r'

It claims a run id, records the start (pid, command, parameters), runs the command in
its own process group, copies its output to the run's log *and* to its own
stdout/stderr (so cron still mails it per MAILTO), records the end (exit code, output
tail) and exits with the command's exit code (128+N if a signal N killed it).

The command: one argument after ``--`` is run by ``$SHELL -c`` (cron sets SHELL,
default /bin/sh), exactly as cron would have run the unwrapped line; several
arguments are executed directly.

Which spool: ``--spool DIR``, else ``$UNIFIER_SPOOL``, else
``$UNIFIER_HOME/spool/cron/INSTANCE`` (``UNIFIER_HOME`` defaults to ``~/.unifier``;
INSTANCE is taken from the ``--job`` URI), the same default the cron adapter reads.

The command sees ``UNIFIER_JOB`` and ``UNIFIER_RUN_ID``, and, for a run triggered
through unifier with parameters, ``UNIFIER_PARAM_<NAME>`` per parameter (NAME upper-cased,
other characters than letters and digits turned to ``_``) and ``UNIFIER_PARAMS`` (all of
them, as a JSON object). Parameters never replace other variables (a parameter named
``path`` cannot change PATH).

If the spool cannot be written, the wrapper warns on stderr and runs the command
anyway (a job must not stop running because its recording broke). This module imports
only the standard library and :mod:`unifier.spool`, so it starts fast;
``python -m unifier.adapters.cron.wrapper`` is the same command without the CLI.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unifier.spool import RUN_ID_RE, Command, Output, RunStart, Spool, default_location, execute

WRAPPER_MODULE_NAME = "unifier.adapters.cron.wrapper"
URI_RE = re.compile(r"^cron://(?P<instance>[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)/(?P<native_id>.+)$")
USAGE = ("usage: unifier exec --job cron://INSTANCE/ID [--spool DIR] [--run-id ID] -- COMMAND...")


class UsageError(Exception):
    pass


def default_spool(instance: str) -> Path:
    """Where runs of cron instance ``instance`` are recorded unless configured otherwise."""
    return default_location("cron", instance)


def resolve_spool(job: str, spool: str | None = None) -> Path:
    if spool:
        return Path(spool)
    if os.environ.get("UNIFIER_SPOOL"):
        return Path(os.environ["UNIFIER_SPOOL"])
    return default_spool(parse_job(job)[0])


def parse_job(job: str) -> tuple[str, str]:
    match = URI_RE.match(job)
    if not match:
        raise UsageError(f"--job must be a cron job URI such as cron://hosts/backup, not {job!r}")
    return match["instance"], match["native_id"]


def new_run_id() -> str:
    """Id of a run cron started: time-ordered, unique within a spool."""
    return f"cron-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def param_env(params: dict[str, Any]) -> dict[str, str]:
    env = {"UNIFIER_PARAMS": json.dumps(params)} if params else {}
    for key, value in params.items():
        name = re.sub(r"[^A-Za-z0-9]", "_", str(key)).upper()
        env[f"UNIFIER_PARAM_{name}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def run(job: str, command: list[str], *, spool: str | None = None, run_id: str | None = None,
        firing_id: str | None = None, params: dict[str, Any] | None = None,
        cause: str = "schedule", stdin: str | None = None, passthrough: bool = True,
        user: str | None = None) -> int:
    """Run ``command`` as a recorded run of ``job``; returns the exit status to exit with."""
    parse_job(job)
    if not command:
        raise UsageError("no command after --")
    params = params or {}
    run_id = run_id or new_run_id()
    if not RUN_ID_RE.match(run_id):
        raise UsageError(f"bad --run-id {run_id!r}: use letters, digits, '.', '_', '-'")
    if len(command) == 1:
        argv = [os.environ.get("SHELL") or "/bin/sh", "-c", command[0]]
    else:
        argv = list(command)
    env = {**os.environ, **param_env(params), "UNIFIER_JOB": job, "UNIFIER_RUN_ID": run_id}
    try:
        where = Spool(resolve_spool(job, spool))
        where.ensure()
    except OSError as exc:
        print(f"unifier exec: cannot record in the spool ({exc}); running unrecorded",
              file=sys.stderr)
        sys.stderr.flush()
        os.execvpe(argv[0], argv, env)
    code = execute(
        where,
        RunStart(run_id, job, params=params, cause={"kind": cause, "firing_id": firing_id},
                 firing_id=firing_id, command=command if len(command) > 1 else command[0]),
        Command(argv, env=env, stdin=stdin.encode() if stdin is not None else None, user=user),
        Output(passthrough=passthrough))
    if code is None:
        print(f"unifier exec: run {run_id} is already claimed; not starting it again", file=sys.stderr)
        return 0
    return code if code >= 0 else 128 - code


def main(argv: list[str] | None = None) -> int:
    """``python -m unifier.adapters.cron.wrapper`` (what a trigger spawns)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        print(USAGE, file=sys.stderr)
        return 2
    split = args.index("--")
    options, command = args[:split], args[split + 1:]
    known = {"--job", "--spool", "--run-id", "--firing-id", "--params-json", "--cause", "--stdin", "--user"}
    values: dict[str, str] = {}
    passthrough = True
    i = 0
    while i < len(options):
        opt = options[i]
        if opt.startswith("--") and "=" in opt:  # --job=URI
            opt, value = opt.split("=", 1)
            options[i + 1:i + 1] = [value]
        if opt == "--no-passthrough":
            passthrough = False
        elif opt in known and i + 1 < len(options):
            values[opt] = options[i + 1]
            i += 1
        else:
            print(f"unifier exec: unknown option {opt!r}\n{USAGE}", file=sys.stderr)
            return 2
        i += 1
    try:
        if "--job" not in values:
            raise UsageError("--job is required")
        return run(values["--job"], command, spool=values.get("--spool"),
                   run_id=values.get("--run-id"), firing_id=values.get("--firing-id"),
                   params=json.loads(values.get("--params-json") or "{}"),
                   cause=values.get("--cause", "schedule"), stdin=values.get("--stdin"),
                   passthrough=passthrough, user=values.get("--user"))
    except UsageError as exc:
        print(f"unifier exec: {exc}\n{USAGE}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
