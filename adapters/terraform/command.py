"""Running terraform: finding the binary, building command lines, reading ``-json``.

Never ``python-terraform`` (broken on Terraform >= 0.15: destroy sends ``-force``,
apply waits for approval, no ``-json``): commands are built here and run as asyncio
subprocesses whose stdout is read line by line while they run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unifier.adapters.terraform.stream import StreamSummary

BINARY_ENV = "UNIFIER_TERRAFORM_BINARY"
ACTIONS = ("init", "plan", "apply", "destroy")


class BinaryNotFound(LookupError):
    """No terraform or tofu executable could be found."""


def resolve_binary(configured: str | None = None) -> str:
    """The executable to run: ``configured`` (a path or a name on PATH), else
    ``$UNIFIER_TERRAFORM_BINARY``, else ``terraform`` on PATH, else ``tofu``."""
    candidates: list[tuple[str, str]] = []
    if configured:
        candidates.append((configured, "the instance's `binary` setting"))
    elif os.environ.get(BINARY_ENV):
        candidates.append((os.environ[BINARY_ENV], f"${BINARY_ENV}"))
    else:
        candidates += [("terraform", "PATH"), ("tofu", "PATH")]
    for name, _ in candidates:
        found = shutil.which(name)
        if found:
            return found
    tried = ", ".join(f"{name!r} (from {origin})" for name, origin in candidates)
    raise BinaryNotFound(
        f"no terraform executable found: tried {tried}. Install terraform or OpenTofu, or "
        f"set `binary` in the instance config or {BINARY_ENV}."
    )


def variable_args(params: Mapping[str, Any]) -> list[str]:
    """``-var NAME=VALUE`` for each parameter. Strings pass as they are; other JSON
    values (numbers, booleans, lists, maps) are written as HCL-compatible JSON, which
    terraform parses according to the variable's declared type."""
    args: list[str] = []
    for name, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value)
        args += ["-var", f"{name}={text}"]
    return args


def terraform_env(base: Mapping[str, str], extra: Mapping[str, str] | None = None,
                  workspace: str | None = None) -> dict[str, str]:
    """The environment terraform runs in: ``base`` plus the instance's extra variables,
    non-interactive, and without the version check that calls checkpoint-api.hashicorp.com
    on every command (a network call that offline machines cannot make)."""
    env = dict(base)
    env.update(extra or {})
    env.setdefault("CHECKPOINT_DISABLE", "1")
    env["TF_IN_AUTOMATION"] = "1"
    env["TF_INPUT"] = "0"
    if workspace:
        env["TF_WORKSPACE"] = workspace
    return env


def init_argv(binary: str, plugin_dir: str | None) -> list[str]:
    argv = [binary, "init", "-input=false", "-no-color"]
    if plugin_dir:
        argv.append(f"-plugin-dir={plugin_dir}")
    return argv


def action_argv(binary: str, action: str, variables: Mapping[str, Any]) -> list[str]:
    """The command line of plan/apply/destroy, non-interactive, on the ``-json`` stream.
    ``-lock-timeout=0s`` makes a held state lock fail at once with a clear diagnostic
    instead of waiting."""
    if action not in ("plan", "apply", "destroy"):
        raise ValueError(f"not a terraform action with a -json stream: {action!r}")
    argv = [binary, action, "-json", "-input=false", "-no-color", "-lock-timeout=0s"]
    if action in ("apply", "destroy"):
        argv.append("-auto-approve")
    return argv + variable_args(variables)


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int
    summary: StreamSummary = field(default_factory=StreamSummary)


async def run_command(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    log: Callable[[str], None],
    json_stream: bool,
    raw_output: Path,
    *,
    on_start: Callable[[asyncio.subprocess.Process], None] | None = None,
) -> CommandResult:
    """Run one terraform command to its end, passing each line of its output to ``log``
    (the human text of ``-json`` events; other lines verbatim) and folding ``-json``
    events into a :class:`StreamSummary`.

    Terraform writes to the file ``raw_output`` (appended), which is read back as it
    grows, rather than to a pipe: if the reading process dies, a pipe would break and
    terraform, a Go program, would die of SIGPIPE on its next line of output, without
    stopping its provisioners or saving state. A file never breaks. The command runs
    in its own session (process group), so that one signal reaches it exactly once."""
    summary = StreamSummary()

    def take(raw: bytes) -> None:
        line = raw.decode(errors="replace")
        text = summary.feed(line) if json_stream else line.rstrip("\r\n")
        if text is not None:
            log(text)

    raw_output.parent.mkdir(parents=True, exist_ok=True)
    # this loop is the detached runner's own (asyncio.run in runner.py): it serves nothing
    # that a local file open could hold up
    with open(raw_output, "ab") as sink, open(raw_output, "rb") as reader:  # noqa: ASYNC230
        reader.seek(0, os.SEEK_END)
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=str(cwd), env=dict(env), stdin=asyncio.subprocess.DEVNULL,
            stdout=sink, stderr=sink, start_new_session=True,
        )
        if on_start is not None:
            on_start(proc)
        exited = asyncio.ensure_future(proc.wait())
        pending = b""
        while True:
            finished = exited.done()  # checked before reading: nothing written after is lost
            chunk = reader.read()
            if chunk:
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    take(line)
            elif finished:
                break
            else:
                await asyncio.wait({exited}, timeout=0.05)
        if pending:
            take(pending)
    return CommandResult(argv=argv, returncode=exited.result(), summary=summary)
