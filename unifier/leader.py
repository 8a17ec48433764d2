"""Who runs the control loop: exactly one leader per catalog, fenced by an epoch.

Any number of ``unifier run`` processes may share one catalog; every one serves the
API, and only the leader syncs, evaluates and fires. Two mechanisms, each for one job:

**Liveness: a lock that dies with its holder.**
On PostgreSQL a session advisory lock (``pg_try_advisory_lock``) held on a dedicated
connection. A ``kill -9`` closes that connection's socket; the server ends the session
and releases the lock at once, so a standby (trying every ``retry_interval``) takes over
within about a second. TCP keepalives on both ends (:data:`KEEPALIVE`) end a session whose
host vanished without closing it. On SQLite an exclusive ``flock`` on ``DATABASE.leader``
beside the file, released by the kernel when the process dies: a second ``unifier run``
on the same file stands by. A leader that hangs but stays connected keeps the lock (no
failover, and no split brain either).

**Safety: an epoch that fences a deposed leader.**
The replica that takes the lock bumps ``leader.epoch`` in one transaction and keeps the
value. Every transaction that records a firing's attempt or its downstream run calls
:meth:`Leadership.check`: ``SELECT epoch ... FOR SHARE`` must still be ours, or the
transaction raises :class:`Deposed` and writes nothing. ``FOR SHARE`` holds the row for
the rest of that transaction, so a takeover's epoch bump waits for it to commit and a
check can never pass against an epoch that is already gone (client-go's lease and
Kleppmann's fencing tokens, on the catalog's own rows). Downstream calls carry the
firing's deterministic id, so a call a deposed leader had already sent is adopted by
the new leader, not repeated.

The leader writes ``renewed_at`` every ``renew_interval`` (a heartbeat ``unifier leader``
shows) and re-checks its lock connection and its epoch; losing either ends its
leadership at once: the control loop cancels its firings and stands by.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import Connection, NullPool, create_engine, select, text, update
from sqlalchemy.orm import Session

from unifier.catalog import Catalog
from unifier.catalog.tables import LeaderRow
from unifier.errors import UnifierError
from unifier.model import utcnow

log = logging.getLogger(__name__)

LOOP = "reconciler"  # the one leader row this module manages
ADVISORY_KEY = 0x756E6966_6C6F6F70  # "unifloop": the advisory lock's key in each database
# libpq keepalives: a dead peer is noticed after about idle + interval * count seconds
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 3, "keepalives_interval": 1, "keepalives_count": 3}


def default_replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderSettings(BaseModel):
    """How replicas of ``unifier run`` elect the one that runs the control loop."""

    replica_id: str = Field(default_factory=default_replica_id, min_length=1, max_length=255,
                            description="this replica's name in `unifier leader` (default HOST:PID)")
    retry_interval: float = Field(default=1.0, gt=0, le=60,
                                  description="seconds between a standby's attempts to take over")
    renew_interval: float = Field(default=2.0, gt=0, le=60,
                                  description="seconds between the leader's heartbeats and lock checks")


class Deposed(UnifierError):
    """This replica no longer leads: whatever it was about to record is refused."""


@dataclass(frozen=True)
class LeaderInfo:
    holder: str
    epoch: int
    acquired_at: datetime
    renewed_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"replica": self.holder, "epoch": self.epoch, "since": self.acquired_at.isoformat(),
                "heartbeat": self.renewed_at.isoformat()}


def current_leader(catalog: Catalog) -> LeaderInfo | None:
    """The replica that leads (or led last: compare ``renewed_at`` with now)."""
    with catalog.session() as s:
        row = s.get(LeaderRow, LOOP)
        if row is None:
            return None
        return LeaderInfo(row.holder, row.epoch, _utc(row.acquired_at), _utc(row.renewed_at))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Fence(Protocol):
    def check(self, session: Session) -> None:
        """Raise :class:`Deposed` unless the caller still leads, inside ``session``'s
        transaction (so the answer holds until it commits)."""


# ---------------------------------------------------------------------- the locks


class _Lock(Protocol):
    def acquire(self) -> bool: ...
    def alive(self) -> bool: ...
    def release(self) -> None: ...


class _AdvisoryLock:
    """A PostgreSQL session advisory lock on a connection of its own (not from the
    catalog's pool: it lives as long as the leadership)."""

    def __init__(self, catalog: Catalog):
        self._engine = create_engine(catalog.engine.url, poolclass=NullPool, connect_args=KEEPALIVE,
                                     isolation_level="AUTOCOMMIT")
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is None:
            self._conn = self._engine.connect()
            # the server's side of the keepalive: a vanished leader's session ends, its lock goes
            for name, value in (("idle", 3), ("interval", 1), ("count", 3)):
                self._conn.exec_driver_sql(f"SET tcp_keepalives_{name} = {value}")
        got = self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
        return bool(got)

    def alive(self) -> bool:
        """A session lock lasts as long as its session: the connection answering is enough."""
        try:
            assert self._conn is not None
            self._conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:  # the connection is gone, and the lock with it
            log.warning("leader lock connection lost: %s", exc)
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            self._conn.close()
        except Exception as exc:  # closing the session releases the lock anyway
            log.debug("closing the leader lock connection: %s", exc)
        self._conn = None
        self._engine.dispose()


class _FileLock:
    """An exclusive ``flock`` beside a SQLite file; the kernel drops it with the process."""

    def __init__(self, path: Path):
        self._path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        handle = open(self._path, "ab")  # noqa: SIM115 - held open as long as we lead
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def alive(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None


class _ProcessLock:
    """An in-memory SQLite catalog exists in one process only: that process leads."""

    def acquire(self) -> bool:
        return True

    def alive(self) -> bool:
        return True

    def release(self) -> None:
        pass


def _lock_for(catalog: Catalog) -> _Lock:
    url = catalog.engine.url
    if url.get_backend_name() == "postgresql":
        return _AdvisoryLock(catalog)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return _FileLock(Path(f"{url.database}.leader"))
    return _ProcessLock()


# ---------------------------------------------------------------------- leadership


class Leadership:
    """This replica's claim to lead. Methods block on the catalog: call them off the
    event loop (the reconciler does, through ``asyncio.to_thread``)."""

    def __init__(self, catalog: Catalog, settings: LeaderSettings | None = None):
        self.catalog = catalog
        self.settings = settings or LeaderSettings()
        self.epoch: int | None = None
        self._lock = _lock_for(catalog)

    @property
    def replica_id(self) -> str:
        return self.settings.replica_id

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free and start a new epoch; False when another leads."""
        if self.leading:
            return True
        if not self._lock.acquire():
            return False
        try:
            self.epoch = self._new_epoch()
        except Exception:
            self._lock.release()
            raise
        log.info("replica %s leads (epoch %d)", self.replica_id, self.epoch)
        return True

    def _new_epoch(self) -> int:
        now = utcnow()
        with self.catalog.session() as s:
            row = s.get(LeaderRow, LOOP, with_for_update=True)
            if row is None:
                s.add(LeaderRow(name=LOOP, holder=self.replica_id, epoch=1, acquired_at=now, renewed_at=now))
                return 1
            row.holder, row.epoch, row.acquired_at, row.renewed_at = self.replica_id, row.epoch + 1, now, now
            return row.epoch

    def renew(self) -> bool:
        """Heartbeat: True while the lock is held and the epoch is still ours; otherwise
        leadership ends here (and the caller stops acting as leader)."""
        if not self.leading:
            return False
        try:
            still = self._lock.alive() and self._heartbeat()
        except Exception as exc:  # the catalog unreachable: we cannot prove we lead
            log.warning("replica %s cannot renew its leadership: %s", self.replica_id, exc)
            still = False
        if not still:
            log.warning("replica %s no longer leads (epoch %s)", self.replica_id, self.epoch)
            self.epoch = None
            self._lock.release()
        return still

    def _heartbeat(self) -> bool:
        with self.catalog.session() as s:
            done = s.execute(update(LeaderRow).where(LeaderRow.name == LOOP, LeaderRow.epoch == self.epoch)
                             .values(renewed_at=utcnow()))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def release(self) -> None:
        """Step down (a clean shutdown): the lock goes at once, a standby takes over."""
        if self.leading:
            log.info("replica %s steps down (epoch %d)", self.replica_id, self.epoch)
        self.epoch = None
        self._lock.release()

    def check(self, session: Session) -> None:
        """The fence (see the module docstring)."""
        if self.epoch is None:
            raise Deposed(f"replica {self.replica_id} does not lead")
        current = session.scalar(select(LeaderRow.epoch).where(LeaderRow.name == LOOP)
                                 .with_for_update(read=True))
        if current != self.epoch:
            raise Deposed(f"replica {self.replica_id} was deposed (epoch {self.epoch}, now {current})")
