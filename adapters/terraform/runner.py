"""The detached runner of one terraform run: ``python -m unifier.adapters.terraform.runner``.

The adapter starts it with :meth:`unifier.spool.Runners.spawn`, so the run outlives the
unifier process that asked for it. The runner records the run in the shared spool
(claim, start record, log, end record: the formats of :mod:`unifier.spool`) and runs
``terraform init`` then the action over the ``-json`` stream in asyncio subprocesses.

It takes the run's request (root, action, variables, binary...) as JSON in the
environment variable ``UNIFIER_TERRAFORM_REQUEST`` rather than on its command line,
where every user of the machine could read the parameters.

Concurrency: the runner holds an ``flock`` on a per-root lock file in the spool for the
whole run (the kernel releases it when the runner dies, even by ``kill -9``), so two
unifier runs never touch one root at once; a run started anyway ends ``locked``. A
state lock held by someone else (an outside ``terraform apply``) makes terraform fail
with "Error acquiring the state lock", recorded as native state ``locked`` too.

Cancel (:meth:`Spool.cancel`) sends SIGTERM to this runner, which forwards it to the
guard of the terraform command (:mod:`unifier.adapters.terraform.guard`); the guard
interrupts terraform's process group once, as Ctrl-C would, and terraform stops its
provisioners and saves state. If the runner is killed outright, the kernel tells the
guard (``PR_SET_PDEATHSIG``), which stops terraform the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import hashlib
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from unifier.adapters.terraform import state as tfstate
from unifier.adapters.terraform.command import action_argv, init_argv, run_command
from unifier.adapters.terraform.stream import StreamSummary
from unifier.spool import TAIL_BYTES, Spool

REQUEST_ENV = "UNIFIER_TERRAFORM_REQUEST"
GUARD = Path(__file__).with_name("guard.py")
KILL_GRACE = 30.0  # seconds before the whole group is killed (the guard interrupts it first)

# native state while an action runs, and when it ends well
RUNNING_STATE = {"init": "initializing", "plan": "planning", "apply": "applying",
                 "destroy": "destroying"}
DONE_STATE = {"init": "initialized", "plan": "planned", "apply": "applied", "destroy": "destroyed"}


def root_lock_path(spool: Spool, root: str) -> Path:
    digest = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]
    return spool.path / "roots" / f"{digest}.lock"


def root_holder(spool: Spool, root: str) -> str | None:
    """The run id of the unifier run that holds ``root`` now, or None if it is free."""
    path = root_lock_path(spool, root)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 200, 0).decode(errors="replace").strip() or "(unknown run)"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def acquire_root(spool: Spool, root: str, run_id: str) -> int | None:
    """Lock ``root`` for ``run_id``; the fd holds the lock until this process exits.
    None if another run holds it."""
    path = root_lock_path(spool, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, run_id.encode(), 0)
    return fd


@dataclass
class Request:
    """What the adapter asks the runner to do (JSON in ``UNIFIER_TERRAFORM_REQUEST``)."""

    root: str
    action: str
    binary: str
    variables: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    plugin_dir: str | None = None
    workspace: str = "default"
    firing_id: str | None = None
    cause: dict[str, Any] | None = None


class Execution:
    """One run: the terraform commands, the log, the signals."""

    def __init__(self, spool: Spool, run_id: str, request: Request, log: IO[str],
                 early_signals: list[int] | None = None):
        self.spool = spool
        self.early_signals = early_signals if early_signals is not None else []  # before the loop ran
        self.run_id = run_id
        self.request = request
        self.log_file = log
        self.tail: list[str] = []
        self.child: asyncio.subprocess.Process | None = None
        self.cancelled = False

    def log(self, text: str) -> None:
        self.log_file.write(text + "\n")
        self.log_file.flush()
        self.tail.append(text)
        if len(self.tail) > 200:
            del self.tail[:100]

    def output_tail(self) -> str:
        return "\n".join(self.tail)[-TAIL_BYTES:]

    def _started(self, child: asyncio.subprocess.Process) -> None:
        self.child = child
        if self.cancelled:  # the cancel arrived while terraform was starting
            self.on_sigterm()

    def on_sigterm(self) -> None:
        self.cancelled = True
        child = self.child
        if child is None or child.returncode is not None:
            return
        try:
            child.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            return
        asyncio.get_running_loop().call_later(KILL_GRACE, self._kill_child, child)

    @staticmethod
    def _kill_child(child: asyncio.subprocess.Process) -> None:
        if child.returncode is None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def command(self, argv: list[str], json_stream: bool) -> tuple[int, StreamSummary]:
        summary = StreamSummary()
        if self.cancelled:
            return -signal.SIGTERM, summary
        self.log(f"$ {' '.join(_display(argv))}")
        env = {k: v for k, v in os.environ.items() if k != REQUEST_ENV}
        try:
            result = await run_command(
                [sys.executable, str(GUARD), str(os.getpid()), "--", *argv],
                Path(self.request.root), env, self.log, json_stream,
                self.spool.runs_dir / f"{self.run_id}.terraform.out", on_start=self._started)
        except OSError as exc:
            self.log(f"unifier: cannot start {argv[0]!r}: {exc}")
            summary.diagnostics.append({"severity": "error", "summary": f"cannot start {argv[0]}",
                                        "detail": str(exc)})
            return 127, summary
        code, summary = result.returncode, result.summary
        self.log(f"(exit status {code})")
        return code, summary

    async def run(self) -> tuple[int, str, dict[str, Any]]:
        """Run init and the action; returns (exit code, native state, details)."""
        req = self.request
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self.on_sigterm)
        details: dict[str, Any] = {"action": req.action, "root": req.root, "workspace": req.workspace}
        statefile = tfstate.state_path(Path(req.root), req.workspace)
        if self.spool.cancel_requested(self.run_id) or self.early_signals:
            return -signal.SIGTERM, "cancelled", details
        code, summary = await self.command(init_argv(req.binary, req.plugin_dir), json_stream=False)
        if code != 0 or self.cancelled:
            details["diagnostics"] = summary.diagnostics or [
                {"severity": "error", "summary": "terraform init failed",
                 "detail": self.output_tail()[-1500:]}]
            return code, "cancelled" if self.cancelled else "errored", details
        if req.action == "init":
            return 0, DONE_STATE["init"], details
        before = tfstate.read_stamp(statefile)
        code, summary = await self.command(action_argv(req.binary, req.action, req.variables),
                                           json_stream=True)
        after = tfstate.read_stamp(statefile)
        details.update(summary.as_details())
        details["exit_code"] = code
        # the state versions this run went from and to: how the adapter tells our own
        # applies from applies made outside unifier
        details["state_before"] = [before.serial, before.lineage] if before else None
        details["state_after"] = [after.serial, after.lineage] if after else None
        if self.cancelled or self.spool.cancel_requested(self.run_id):
            native = "cancelled"
        elif code != 0:
            native = "locked" if summary.locked else "errored"
        elif summary.no_changes:
            native = "no-changes"
        else:
            native = DONE_STATE[req.action]
        return code, native, details


def _display(argv: list[str]) -> list[str]:
    return [arg if " " not in arg else repr(arg) for arg in argv]


def run(spool_dir: str, run_id: str, job: str, request: Request) -> int:
    """Claim, record, execute and close run ``run_id``. Returns the process exit status."""
    spool = Spool(spool_dir)
    if not spool.claim(run_id, job, firing_id=request.firing_id):
        return 0  # another runner has this run: the same firing never runs twice
    command = {"action": request.action, "root": request.root, "workspace": request.workspace}
    # the root lock is taken before the start record: once the adapter sees the run
    # started, a second trigger on the root sees the lock held
    lock_fd = acquire_root(spool, request.root, run_id)
    # Once the start record is written a cancel may come (SIGTERM) before the asyncio
    # handlers below exist; Python's default would kill this runner and leave the run
    # without an end record ("lost"). Keep the signal until they can act on it.
    early_signals: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda received, _frame: early_signals.append(received))
    spool.record_start(run_id, job, params=request.params, cause=request.cause,
                       firing_id=request.firing_id, command=command,
                       native_state=RUNNING_STATE[request.action], details=dict(command))
    with open(spool.log_path(run_id), "a", encoding="utf-8") as log:
        execution = Execution(spool, run_id, request, log, early_signals)
        if lock_fd is None:
            holder = root_holder(spool, request.root) or "another run"
            diag = {"severity": "error", "summary": "Root busy: another unifier run is using it",
                    "detail": f"run {holder} is running on {request.root}"}
            execution.log(f"Error: {diag['summary']}\n{diag['detail']}")
            code, native, details = 1, "locked", {**command, "diagnostics": [diag]}
        else:
            try:
                code, native, details = asyncio.run(execution.run())
            except Exception as exc:  # record the failure rather than leave the run open
                execution.log(f"unifier: runner error: {exc!r}")
                code, native, details = 1, "errored", {**command, "diagnostics": [
                    {"severity": "error", "summary": "runner error", "detail": repr(exc)}]}
        if lock_fd is not None:
            # free the root before the run is seen ended: a trigger that follows the
            # end at once must find the root free
            os.close(lock_fd)
        spool.record_end(run_id, job, exit_code=code, native_state=native,
                         output_tail=execution.output_tail(), details=details)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unifier.adapters.terraform.runner",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--spool", required=True, help="spool directory")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--job", required=True, help="native id of the root")
    args = parser.parse_args(argv)
    raw = os.environ.get(REQUEST_ENV)
    if not raw:
        parser.error(f"${REQUEST_ENV} is not set (the adapter passes the request there)")
    data = json.loads(raw)
    return run(args.spool, args.run_id, args.job, Request(**data))


if __name__ == "__main__":
    sys.exit(main())
