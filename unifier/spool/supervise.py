"""Running commands as recorded runs of a spool: in the runner process
(:func:`execute`), and detached from the adapter that starts a runner
(:class:`Runners`).

The runner claims the run id, records the start, runs the command in its own process
group while teeing its output to the run's log (and to its own stdout/stderr), forwards
SIGTERM/SIGINT/SIGHUP to the command (SIGKILL after :data:`KILL_GRACE`), and records the
end. Standard library only, like the journal: ``unifier exec`` starts fast.
"""

from __future__ import annotations

import os
import pwd
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from unifier.spool.journal import TAIL_BYTES, Spool, SpoolRun, process_alive

KILL_GRACE = 10.0  # seconds between the forwarded SIGTERM and SIGKILL

# on_line(stream, line): each line of output, "stdout" or "stderr", without its newline
LineHook = Callable[[str, bytes], None]
# native_state(exit_code, cancelled): the end state to record, instead of the default
EndState = Callable[[int, bool], str]


@dataclass(frozen=True)
class RunStart:
    """What the start record says of a run, besides what the runner knows itself (pid,
    host, time)."""

    run_id: str
    job: str
    params: dict[str, Any] = field(default_factory=dict)
    cause: Any = None
    firing_id: str | None = None
    command: Any = None  # as shown to users; default: the argv


@dataclass(frozen=True)
class Command:
    """The process to run. ``user`` runs it as that user (the runner must be root; set
    HOME and the like in ``env``)."""

    argv: list[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    stdin: bytes | None = None
    user: str | None = None


@dataclass
class Output:
    """Where the output goes besides the log: our stdout/stderr (``passthrough``, what
    cron mails), a line hook that may fill ``details`` (recorded with the end)."""

    passthrough: bool = True
    on_line: LineHook | None = None
    details: dict[str, Any] = field(default_factory=dict)


def execute(spool: Spool, run: RunStart, command: Command, output: Output | None = None,
            native_state: EndState | None = None) -> int | None:
    """Run ``command`` as run ``run.run_id``, in the calling (runner) process: claim,
    record the start, tee the output to the log, record the end. Returns the exit code
    (negative: killed by that signal; 127: could not start), or None if the run id was
    already claimed."""
    output = output or Output()
    if not spool.claim(run.run_id, run.job, firing_id=run.firing_id):
        return None
    signals = _Forwarder()  # before the start record: a cancel may come at once
    spool.record_start(run.run_id, run.job, params=run.params, cause=run.cause, firing_id=run.firing_id,
                       command=run.command if run.command is not None else command.argv,
                       user=command.user or _user_name(os.geteuid()))
    tail = bytearray()
    with open(spool.log_path(run.run_id), "ab") as log:
        try:
            if spool.cancel_requested(run.run_id) or signals.received:
                code = -signal.SIGTERM
            else:
                code = _run_child(command, log, tail, output, signals)
        except OSError as exc:  # command not found, not executable
            msg = f"unifier: cannot start {command.argv[0]!r}: {exc}\n".encode()
            log.write(msg)
            tail.extend(msg)
            code = 127
    cancelled = spool.cancel_requested(run.run_id)
    if native_state:
        state = native_state(code, cancelled)
    elif code == 0:
        state = "succeeded"
    elif cancelled:
        state = "cancelled"
    else:
        state = "killed" if code < 0 else "failed"
    spool.record_end(run.run_id, run.job, exit_code=code, native_state=state,
                     output_tail=tail[-TAIL_BYTES:].decode(errors="replace"), details=output.details)
    signals.restore()
    return code


class Runners:
    """Detached runner processes one adapter started. It owns their ``Popen`` objects
    and reaps those that exited at each :meth:`spawn`, so none stays a zombie for long."""

    def __init__(self) -> None:
        self._children: list[subprocess.Popen[bytes]] = []

    def spawn(self, spool: Spool, argv: list[str], run_id: str, job: str, *,
              env: dict[str, str] | None = None, cwd: str | None = None, timeout: float = 15.0) -> SpoolRun:
        """Start ``argv`` (a runner that calls :func:`execute` for ``run_id``) detached
        from this process, unless the run id is claimed already, and wait until its
        start record is visible. The same run id never starts two runners: a second call
        adopts the first one's run. A runner that dies before its start record is
        recorded ``lost``. Raises RuntimeError if the runner fails to start at all."""
        self._children = [child for child in self._children if child.poll() is None]
        spool.ensure()
        proc = None
        errors = spool.err_path(run_id)
        if spool.read_claim(run_id) is None and spool.get(run_id) is None:
            with open(errors, "ab") as err:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=err, env=env, cwd=cwd, start_new_session=True)
            self._children.append(proc)
        deadline = time.monotonic() + timeout
        while True:
            run = spool.get(run_id)
            if run is not None:
                return run
            claim = spool.read_claim(run_id)
            if claim is None and proc is not None and proc.poll() is not None:
                err_text = errors.read_text(errors="replace")[-2000:].strip()
                raise RuntimeError(f"runner exited with status {proc.returncode}: {err_text}")
            if claim is not None and not process_alive(claim.get("pid"), claim.get("pid_start")):
                # the claimer is gone: it wrote its start record just before, or never will
                return spool.get(run_id) or spool.mark_lost(
                    SpoolRun(run_id, claim.get("job", job), "starting", 0,
                             firing_id=claim.get("firing_id")), "runner died before starting")
            if time.monotonic() > deadline:
                if claim is None:
                    raise RuntimeError(f"runner for {run_id} did not claim it within {timeout}s")
                return SpoolRun(run_id, claim.get("job", job), "starting", 0, pid=claim.get("pid"),
                                host=claim.get("host"), firing_id=claim.get("firing_id"))
            time.sleep(0.02)


# ------------------------------------------------------------------------ in the runner


class _Forwarder:
    """Catches SIGTERM/SIGINT/SIGHUP in the runner and passes them to the command's
    process group (SIGKILL after KILL_GRACE), so the runner lives to record the end."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.received: int | None = None
        self.previous = {s: signal.signal(s, self.handle) for s in self.SIGNALS}

    def handle(self, signum: int, _frame: Any) -> None:
        self.received = signum
        if self.child is not None:
            self.forward()

    def forward(self) -> None:
        child = self.child
        if child is None or self.received is None:
            return
        try:
            os.killpg(child.pid, self.received)
        except ProcessLookupError:
            return
        timer = threading.Timer(KILL_GRACE, _kill_group, (child,))
        timer.daemon = True
        timer.start()

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _identity(user: str | None) -> dict[str, Any]:
    """Popen arguments that run the command as ``user`` (OSError: no such user)."""
    if user is None:
        return {}
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise OSError(f"no such user {user!r}") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid,
            "extra_groups": os.getgrouplist(user, entry.pw_gid)}


def _run_child(command: Command, log: BinaryIO, tail: bytearray, output: Output, signals: _Forwarder) -> int:
    """Run the command in its own process group and tee its output."""
    if command.stdin is not None:
        stdin: int | None = subprocess.PIPE
    else:
        stdin = None if output.passthrough else subprocess.DEVNULL
    child = subprocess.Popen(
        command.argv, env=command.env, cwd=command.cwd, start_new_session=True, **_identity(command.user),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin)
    signals.child = child
    if signals.received:  # arrived while the command was starting
        signals.forward()
    if command.stdin is not None:
        threading.Thread(target=_feed, args=(child.stdin, command.stdin), daemon=True).start()
    sel = selectors.DefaultSelector()
    outs = {child.stdout: ("stdout", sys.stdout), child.stderr: ("stderr", sys.stderr)}
    partial = {"stdout": b"", "stderr": b""}
    for pipe in outs:
        sel.register(pipe, selectors.EVENT_READ)  # type: ignore[arg-type]
    while sel.get_map():
        for key, _ in sel.select():
            chunk = os.read(key.fd, 65536)
            name, ours = outs[key.fileobj]  # type: ignore[index]
            if not chunk:
                sel.unregister(key.fileobj)
                if output.on_line and partial[name]:
                    output.on_line(name, partial[name])
                continue
            log.write(chunk)
            log.flush()
            tail.extend(chunk)
            del tail[:-TAIL_BYTES]
            if output.passthrough:
                ours.buffer.write(chunk)
                ours.flush()
            if output.on_line:
                *lines, partial[name] = (partial[name] + chunk).split(b"\n")
                for line in lines:
                    output.on_line(name, line)
    return child.wait()


def _feed(pipe: Any, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except OSError:  # the command did not read its input
        pass


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
