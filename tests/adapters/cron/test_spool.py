"""The shared spool (unifier.spool) on its own: concurrent writers, execute() hooks."""

from __future__ import annotations

import subprocess
import sys

from unifier.spool import Command, Output, RunStart, Spool, execute

WRITER = """
import sys
from unifier.spool import Spool
spool = Spool(sys.argv[1])
for i in range(300):
    spool.append({"rec": "end", "run_id": f"w{sys.argv[2]}-{i}", "job": "cron://h/x",
                  "native_state": "succeeded", "output_tail": "x" * 700})
"""


def test_concurrent_writers_never_interleave_records(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(n)]) for n in range(4)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    found = Spool(tmp_path).read(None)
    assert not found.notes
    assert len(found.runs) == 1200 and len({r.version for r in found.runs}) == 1200
    for n in range(4):  # each writer's records in its own order
        versions = [r.version for r in found.runs if r.run_id.startswith(f"w{n}-")]
        assert versions == sorted(versions)


def test_execute_reports_lines_details_and_a_custom_end_state(tmp_path):
    spool = Spool(tmp_path)
    details: dict = {"lines": []}

    def on_line(stream: str, line: bytes) -> None:
        details["lines"].append((stream, line.decode()))

    code = execute(
        spool, RunStart("r1", "terraform://i/root"),
        Command(["sh", "-c", "cat; echo warn >&2; printf last"], stdin=b"a\nb\n"),
        Output(passthrough=False, on_line=on_line, details=details),
        native_state=lambda code, cancelled: "applied" if code == 0 else "errored")
    assert code == 0
    run = spool.get("r1")
    assert run.native_state == "applied" and run.exit_code == 0
    assert sorted(run.details["lines"]) == [["stderr", "warn"], ["stdout", "a"], ["stdout", "b"],
                                            ["stdout", "last"]]
    assert execute(spool, RunStart("r1", "terraform://i/root"), Command(["true"]),
                   Output(passthrough=False)) is None  # claimed


def test_a_command_that_cannot_start_is_failed_with_127(tmp_path):
    spool = Spool(tmp_path)
    assert execute(spool, RunStart("r2", "cron://h/x"), Command(["/no/such/program"]),
                   Output(passthrough=False)) == 127
    run = spool.get("r2")
    assert (run.native_state, run.exit_code) == ("failed", 127)
    assert "cannot start" in spool.log_path("r2").read_text()
