"""Guard one terraform command: stop it the way Ctrl-C would, also when its runner dies.

    python guard.py RUNNER_PID -- terraform apply ...

Run as a script (standard library only, nothing of unifier imported: it starts fast)
by the runner, as the leader of a new process group that terraform joins. On SIGTERM
(a cancel, forwarded by the runner) or on its runner's death (the kernel sends SIGTERM:
``PR_SET_PDEATHSIG``, so a ``kill -9`` of the runner is covered), it sends one SIGINT to
the whole group, as a terminal does on Ctrl-C: terraform stops gracefully and saves
state, provider plugins ignore it, and the provisioners' commands *and their children*
stop (terraform itself kills only the direct child of a provisioner, leaving e.g. the
``sleep`` under ``sh -c`` running). A terraform still running after the grace period,
and whatever the group still holds once terraform exits, is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading

GRACE = 20.0  # seconds terraform gets to stop after the interrupt
PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: guard.py RUNNER_PID -- COMMAND...", file=sys.stderr)
        return 2
    runner_pid, command = int(argv[0]), argv[2:]
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not glibc: a killed runner then leaves terraform to finish on its own
        pass
    try:
        child = subprocess.Popen(command)
    except OSError as exc:  # the binary vanished or is not executable
        print(f"unifier: cannot start {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    interrupted = threading.Event()

    def kill_group() -> None:
        os.killpg(0, signal.SIGKILL)  # the guard goes too: nothing is left to report to

    def interrupt(_signum: int = 0, _frame: object = None) -> None:
        if interrupted.is_set():
            return  # a second SIGINT would make terraform quit without saving state
        interrupted.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.killpg(0, signal.SIGINT)
        timer = threading.Timer(GRACE, kill_group)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    if os.getppid() != runner_pid:  # the runner died before PDEATHSIG was armed
        interrupt()
    code = child.wait()
    if interrupted.is_set():
        # terraform is done; its provisioners' leftovers are not
        sys.stdout.flush()
        kill_group()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
