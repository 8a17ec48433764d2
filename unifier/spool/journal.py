"""The spool's journal: its on-disk format, the writers' records, the incremental reader.

A spool is where detached local runner processes record their runs.

Tools that have no server of their own (cron, a Terraform root on this machine) run
jobs as local processes. A runner process records each run in a spool directory, so a
run outlives the unifier process that started it and an adapter reads it incrementally.
The package imports only the standard library: the runner (``unifier exec``) stays light.
Running a command as a recorded run (and starting detached runners) is
:mod:`unifier.spool.supervise`.

Layout of a spool directory::

    journal.jsonl        append-only JSON lines, one O_APPEND write per record
    runs/RUN_ID.claim    created atomically (link, fails if present): one process per run id
    runs/RUN_ID.log      the run's full output
    runs/RUN_ID.cancel   marker: cancel was asked (the runner then records ``cancelled``)
    runs/RUN_ID.err      the detached runner's own stderr (spawn() only)

Records (``rec`` is the first key; the journal's first line is ``{"rec":"journal","id"}``)::

    {"rec":"start","run_id","job","pid","pid_start","host","params","cause","firing_id",
     "command","started_at","user"}
    {"rec":"end","run_id","job","exit_code","native_state","ended_at","output_tail","details"}

``pid_start`` is the process start time from ``/proc/PID/stat`` so a reused pid is not
mistaken for the runner. A partial last line (a crash mid-write) is ignored until
complete; the next writer starts its record on a fresh line, so a torn line is skipped
whole and never corrupts the following record. The first ``end`` record of a run wins.
Records of concurrent writers never interleave because an O_APPEND write to a local
file is atomic on Linux; keep spools off NFS.

API (run ids must be unique within a spool and match ``[A-Za-z0-9._-]+``)::

    spool = Spool(path)
    spool.claim(run_id, job) -> bool; spool.record_start(...); spool.record_end(...)
    changes = spool.read(watermark)  # -> Changes(runs, watermark, notes, bytes_read)
    spool.get(run_id) -> SpoolRun | None                  # one run, liveness re-checked
    spool.cancel(run_id) -> bool                          # marker + SIGTERM to the runner
    spool.log_path(run_id); spool.read_claim(run_id); spool.cancel_requested(run_id)
    spool.mark_lost(spool_run, reason)                    # record an end nobody else will

The watermark (opaque JSON) holds the journal's id and offset and the open runs (run
id -> offset of the start record): a cycle reads the new bytes and checks only the open
runs' processes. A journal replaced since the watermark is read again from the start.
Runs on another host (a shared spool) are never declared lost from here.

Native states written here: ``running`` (open), ``succeeded``, ``failed`` (non-zero exit),
``killed`` (a signal nobody asked for), ``cancelled``, ``lost`` (the runner died without an
end record, or before its start record; written by the reader that noticed). Callers may
write their own native states (``record_end(native_state=...)``).
``SpoolRun.version`` is the journal offset of the record it reflects (monotonic).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unifier.home import unifier_home

RUN_ID_RE = re.compile(r"^[A-Za-z0-9._-]+$")
TAIL_BYTES = 4096


def default_location(kind: str, instance: str) -> Path:
    """Where an adapter of ``kind`` records the runs of ``instance`` unless configured
    otherwise: ``$UNIFIER_HOME/spool/KIND/INSTANCE``."""
    return unifier_home() / "spool" / kind / instance


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    if fields[0] in ("Z", "X"):  # exited, not yet reaped: as good as gone
        return None
    return int(fields[19])


def process_alive(pid: int | None, start: int | None) -> bool:
    if not pid:
        return False
    if not Path("/proc/self/stat").exists():  # no procfs: best effort
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    actual = process_start_time(pid)
    return actual is not None and (start is None or actual == start)


@dataclass
class SpoolRun:
    """What the journal says of one run (``ended`` False = still open)."""

    run_id: str
    job: str
    native_state: str
    version: int
    ended: bool = False
    pid: int | None = None
    pid_start: int | None = None
    host: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    cause: Any = None
    firing_id: str | None = None
    command: Any = None
    started_at: str | None = None
    ended_at: str | None = None
    exit_code: int | None = None
    output_tail: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    user: str | None = None  # who the command ran as

    def apply(self, rec: dict[str, Any], offset: int) -> None:
        for key, value in rec.items():
            if key in self.__dataclass_fields__ and key not in ("run_id", "version") and value is not None:
                setattr(self, key, value)
        self.version = offset
        if rec["rec"] == "end":
            self.ended = True


@dataclass
class Changes:
    runs: list[SpoolRun]
    watermark: str
    notes: list[str]
    bytes_read: int


class Spool:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.journal = self.path / "journal.jsonl"
        self.runs_dir = self.path / "runs"
        self.host = socket.gethostname()
        self._index: dict[str, SpoolRun] = {}  # for get(): built incrementally
        self._indexed = 0

    def ensure(self) -> None:
        """Create the spool if missing. A new journal starts with a line naming it, so a
        watermark taken on a journal that was since replaced is noticed."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps({"rec": "journal", "id": os.urandom(8).hex()}).encode() + b"\n")

    def _journal_id(self) -> str | None:
        try:
            with open(self.journal, "rb") as fh:
                return json.loads(fh.readline()).get("id")
        except (OSError, ValueError, AttributeError):
            return None

    def _file(self, run_id: str, suffix: str) -> Path:
        if not RUN_ID_RE.match(run_id):
            raise ValueError(f"bad run id {run_id!r}: use letters, digits, '.', '_', '-'")
        return self.runs_dir / f"{run_id}.{suffix}"

    def log_path(self, run_id: str) -> Path:
        return self._file(run_id, "log")

    def err_path(self, run_id: str) -> Path:
        """The detached runner's own stderr (what it says when it cannot start)."""
        return self._file(run_id, "err")

    # -- writing ------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> int:
        """Append one record; returns its offset (its version)."""
        self.ensure()
        line = json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n"
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and _last_byte(self.journal, size) != b"\n":
                line = b"\n" + line  # a torn line before us: start ours on a fresh line
            os.write(fd, line)
            return os.lseek(fd, 0, os.SEEK_CUR) - len(line.lstrip(b"\n"))
        finally:
            os.close(fd)

    def claim(self, run_id: str, job: str, **meta: Any) -> bool:
        """Atomically claim ``run_id`` for this process; False if someone already has."""
        self.ensure()
        target = self._file(run_id, "claim")
        tmp = target.with_name(f".{run_id}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"run_id": run_id, "job": job, "pid": os.getpid(),
                                   "pid_start": process_start_time(os.getpid()),
                                   "host": self.host, "claimed_at": now_iso(), **meta}, default=str))
        try:
            os.link(tmp, target)  # atomic, fails if present, and the claim is never empty
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def read_claim(self, run_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._file(run_id, "claim").read_text())
        except (OSError, ValueError):
            return None

    def cancel_requested(self, run_id: str) -> bool:
        return self._file(run_id, "cancel").exists()

    def cancel(self, run_id: str) -> bool:
        """Ask a run to stop: leave the marker, SIGTERM its runner (which forwards it to
        the command's process group and records ``cancelled``). False if not running."""
        self.ensure()
        self._file(run_id, "cancel").touch()
        run = self.get(run_id)
        if run is None or run.ended:
            return False
        if run.pid and run.host == self.host and process_alive(run.pid, run.pid_start):
            try:
                os.kill(run.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return True

    def record_start(self, run_id: str, job: str, *, params: dict[str, Any] | None = None,
                     cause: Any = None, firing_id: str | None = None, command: Any = None,
                     **extra: Any) -> int:
        """Append the start record of a run executed by this (runner) process; ``extra``
        fields (``user``, ``native_state``, ``details``) go into the record as given."""
        return self.append({"rec": "start", "run_id": run_id, "job": job, "pid": os.getpid(),
                            "pid_start": process_start_time(os.getpid()), "host": self.host,
                            "params": params or {}, "cause": cause, "firing_id": firing_id,
                            "command": command, "started_at": now_iso(), **extra})

    def record_end(self, run_id: str, job: str, *, exit_code: int, native_state: str,
                   output_tail: str = "", details: dict[str, Any] | None = None) -> int:
        """Append the end record of a run; the run is over once this line is written."""
        return self.append({"rec": "end", "run_id": run_id, "job": job, "exit_code": exit_code,
                            "native_state": native_state, "ended_at": now_iso(),
                            "output_tail": output_tail, "details": details or {}})

    def mark_lost(self, run: SpoolRun, reason: str) -> SpoolRun:
        """Record that ``run`` ended without its runner saying so. The record repeats
        what the start record said, so a reader that sees only this record is complete."""
        record = {"rec": "end", "run_id": run.run_id, "job": run.job, "native_state": "lost",
                  "ended_at": now_iso(), "details": {"reason": reason}}
        for key in ("pid", "pid_start", "host", "params", "cause", "firing_id", "command", "started_at"):
            record.setdefault(key, getattr(run, key))
        offset = self.append(record)
        run.apply(record, offset)
        return run

    # -- reading ------------------------------------------------------------------------

    def _scan(self, offset: int) -> tuple[list[tuple[int, dict[str, Any]]], int, list[str]]:
        """Complete records from ``offset``: (records with offsets, new offset, notes)."""
        notes: list[str] = []
        try:
            with open(self.journal, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return [], offset, []
        records, pos = [], 0
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:  # a partial last line: wait until it is complete
                break
            line = data[pos:nl]
            if line.strip():
                try:
                    rec = json.loads(line)
                    if rec.get("rec") == "journal":
                        pos = nl + 1
                        continue
                    if rec.get("rec") not in ("start", "end") or not rec.get("run_id"):
                        raise ValueError("not a spool record")
                    records.append((offset + pos, rec))
                except (ValueError, AttributeError):
                    notes.append(f"{self.journal}: skipped a torn or bad record at byte {offset + pos}")
            pos = nl + 1
        return records, offset + pos, notes

    def _fold(self, offset: int, open_runs: dict[str, int], runs: dict[str, SpoolRun],
              notes: list[str]) -> int:
        """Fold the records from ``offset`` into ``runs``; keeps ``open_runs`` (run id ->
        offset of its start record) current. Returns the new offset."""
        records, offset, scan_notes = self._scan(offset)
        notes += scan_notes
        for off, rec in records:
            rid = rec["run_id"]
            run = runs.get(rid)
            if run is None and rid in open_runs:
                run = self._open_run(rid, open_runs[rid])
            if run is not None and run.ended:
                continue  # the first end record wins
            if run is None:
                run = SpoolRun(rid, rec["job"], "running", off)
            run.apply(rec, off)
            runs[rid] = run
            if run.ended:
                open_runs.pop(rid, None)
            else:
                open_runs[rid] = off
        return offset

    def _open_run(self, run_id: str, offset: int) -> SpoolRun | None:
        """An open run rebuilt from its start record (read by offset: one small read)."""
        with open(self.journal, "rb") as fh:
            fh.seek(offset)
            try:
                start = json.loads(fh.readline())
            except ValueError:
                return None
        run = SpoolRun(run_id, start["job"], "running", offset)
        run.apply(start, offset)
        return run

    def _gone(self, run: SpoolRun | None) -> bool:
        # A run on another host cannot be checked from here: it stays open.
        return run is not None and run.host == self.host and not process_alive(run.pid, run.pid_start)

    def read(self, watermark: str | None) -> Changes:
        """Runs with records appended since ``watermark`` (None: from the start), plus
        open runs whose runner is gone (recorded ``lost`` now). Cost: the new bytes and
        one liveness check per open run. The watermark (opaque JSON) carries the journal
        offset and the open runs."""
        mark: dict[str, Any] = json.loads(watermark) if watermark else {"offset": 0, "open": {}}
        begin: int = mark["offset"]
        open_runs: dict[str, int] = dict(mark["open"])
        runs: dict[str, SpoolRun] = {}
        notes: list[str] = []
        journal_id = self._journal_id()
        try:
            size = self.journal.stat().st_size
        except FileNotFoundError:
            size = 0
        if (mark.get("journal") and journal_id and mark["journal"] != journal_id) or begin > size:
            notes.append(f"{self.journal} was replaced: read again from the start")
            begin, open_runs = 0, {}
        offset = self._fold(begin, open_runs, runs, notes)
        dead: dict[str, SpoolRun] = {}
        for rid, off in open_runs.items():
            run = runs.get(rid) or self._open_run(rid, off)
            if run is not None and self._gone(run):
                dead[rid] = run
        if dead:
            # A runner writes its end record before it exits: read again so that a record
            # landed since the first read wins over "lost".
            offset = self._fold(offset, open_runs, runs, notes)
            for rid, run in dead.items():
                if rid in open_runs:
                    runs[rid] = self.mark_lost(run, "runner process gone without an end record")
                    open_runs.pop(rid)
        new_mark = json.dumps({"offset": offset, "open": open_runs, "journal": journal_id},
                              separators=(",", ":"))
        return Changes(list(runs.values()), new_mark, notes, offset - begin)

    def get(self, run_id: str) -> SpoolRun | None:
        """One run as the journal says now (liveness re-checked if still open). Reads
        only what was appended since this object's previous ``get``."""
        open_runs: dict[str, int] = {}
        try:
            if self._indexed > self.journal.stat().st_size:  # the journal was replaced
                self._index, self._indexed = {}, 0
        except FileNotFoundError:
            return None
        self._indexed = self._fold(self._indexed, open_runs, self._index, [])
        run = self._index.get(run_id)
        if run is not None and not run.ended and self._gone(run):
            self._indexed = self._fold(self._indexed, open_runs, self._index, [])
            if not self._index[run_id].ended:
                self.mark_lost(run, "runner process gone without an end record")
        return self._index.get(run_id)


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        return fh.read(1)
