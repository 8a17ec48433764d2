"""Running the real ``unifier`` CLI, in-process (fast) or as a subprocess."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

from unifier.cli import main as cli_main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> Result:
    """``main()`` exactly as the console script runs it: same exit codes, same output."""
    stdout, stderr = io.StringIO(), io.StringIO()
    old_argv, sys.argv = sys.argv, ["unifier", *args]
    code = 0
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            cli_main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
    return Result(code, stdout.getvalue(), stderr.getvalue())


def run_unifier(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
                cwd: str | None = None) -> subprocess.CompletedProcess:
    """As a real subprocess (``python -m unifier``)."""
    return subprocess.run([sys.executable, "-m", "unifier", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)
