"""The agent's durable state: one SQLite file in its state directory.

- ``meta``: the agent's id (a new state directory is a new agent) and what it last
  knew about its lease;
- ``outbox``: messages for the control plane, numbered by SQLite's AUTOINCREMENT (never
  reused, so numbers only grow), deleted once the control plane acknowledges them;
- ``watermarks``: per instance, moved in the same transaction that queues the runs read
  up to it, so an observation is either queued or read again, never lost;
- ``instances``: the zone's specs as last fetched, so a restart cut off still observes;
- ``work``: work received from the control plane; its answer is queued in the outbox in
  the same transaction that marks it done, so a restart re-executes exactly the work
  that has no answer yet (with the same firing id: the adapter starts nothing twice).

Calls block on SQLite: the agent runs them in a thread, one at a time (a lock).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watermarks (instance TEXT PRIMARY KEY, watermark TEXT,
                                       discovered_at REAL);
CREATE TABLE IF NOT EXISTS instances (name TEXT PRIMARY KEY, wire TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS work (id INTEGER PRIMARY KEY, attempt INTEGER NOT NULL,
                                 wire TEXT NOT NULL, state TEXT NOT NULL);  -- received | done
"""


class AgentStore:
    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "agent.db"
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives a power cut
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    # -- identity and lease ------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def agent_id(self) -> str:
        """Made once per state directory: the control plane counts sequence numbers per id."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'agent_id'").fetchone()
            if row:
                return str(row[0])
            agent_id = uuid.uuid4().hex
            db.execute("INSERT INTO meta(key, value) VALUES ('agent_id', ?)", (agent_id,))
            return agent_id

    # -- outbox ----------------------------------------------------------------------

    def queue(self, messages: list[dict[str, Any]], *, instance: str | None = None,
              watermark: str | None = None, discovered_at: float | None = None) -> None:
        """Queue messages; with ``instance``, move its watermark in the same transaction."""
        with self._tx() as db:
            db.executemany("INSERT INTO outbox(message) VALUES (?)",
                           [(json.dumps(m, default=str),) for m in messages])
            if instance is not None:
                _move_watermark(db, instance, watermark, discovered_at)

    def pending(self, limit: int) -> list[dict[str, Any]]:
        with self._tx() as db:
            rows = db.execute("SELECT seq, message FROM outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [{**json.loads(message), "seq": seq} for seq, message in rows]

    def delivered(self, through_seq: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE seq <= ?", (through_seq,))

    def backlog(self) -> int:
        with self._tx() as db:
            return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    # -- observation -----------------------------------------------------------------

    def watermark(self, instance: str) -> tuple[str | None, float | None]:
        with self._tx() as db:
            row = db.execute("SELECT watermark, discovered_at FROM watermarks WHERE instance = ?",
                             (instance,)).fetchone()
            return (row[0], row[1]) if row else (None, None)

    def save_instances(self, wires: list[dict[str, Any]]) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM instances")
            db.executemany("INSERT INTO instances(name, wire) VALUES (?, ?)",
                           [(w["name"], json.dumps(w)) for w in wires])

    def instances(self) -> list[dict[str, Any]]:
        with self._tx() as db:
            return [json.loads(w) for (w,) in db.execute("SELECT wire FROM instances ORDER BY name")]

    # -- work ------------------------------------------------------------------------

    def receive(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store received work; returns the items not seen before. A redelivery of an
        attempt already received or answered is not executed again; a new attempt (the
        control plane retries work that failed for a passing reason) is."""
        new = []
        with self._tx() as db:
            for item in items:
                cursor = db.execute(
                    "INSERT INTO work(id, attempt, wire, state) VALUES (?, ?, ?, 'received') "
                    "ON CONFLICT(id) DO UPDATE SET attempt = excluded.attempt, wire = excluded.wire, "
                    "state = 'received' WHERE excluded.attempt > work.attempt",
                    (item["id"], item["attempt"], json.dumps(item)))
                if cursor.rowcount:
                    new.append(item)
        return new

    def unfinished(self) -> list[dict[str, Any]]:
        with self._tx() as db:
            return [json.loads(w) for (w,) in
                    db.execute("SELECT wire FROM work WHERE state = 'received' ORDER BY id")]

    def answer(self, work_id: int, attempt: int, message: dict[str, Any]) -> None:
        """Queue the answer and mark the attempt done, atomically."""
        with self._tx() as db:
            db.execute("INSERT INTO outbox(message) VALUES (?)", (json.dumps(message, default=str),))
            db.execute("UPDATE work SET state = 'done' WHERE id = ? AND attempt = ?", (work_id, attempt))


def _move_watermark(db: sqlite3.Connection, instance: str, watermark: str | None,
                    discovered_at: float | None) -> None:
    db.execute("INSERT INTO watermarks(instance, watermark, discovered_at) VALUES (?, ?, ?) "
               "ON CONFLICT(instance) DO UPDATE SET watermark = excluded.watermark, "
               "discovered_at = coalesce(excluded.discovered_at, watermarks.discovered_at)",
               (instance, watermark, discovered_at))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the store's lock."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock):
        self.db, self.lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: object, _value: object, _tb: object) -> None:
        try:
            self.db.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            self.lock.release()
