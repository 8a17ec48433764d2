"""The work queue of each zone: what the control plane asks of a zone's agent.

A work item moves ``queued -> delivered -> acked -> done | failed``:

- **enqueue** is idempotent by key: a trigger's key is its firing id, so a firing
  retried after a crash or a timeout finds the item it queued the first time (and its
  answer, once there is one) instead of queuing a second run;
- **claim** hands queued items to the zone's active agent only (the lease), and hands
  out again what was delivered but never acknowledged (``redeliver_seconds``) and what
  an agent acknowledged but did not finish before another agent took the lease over;
- **ack** means "on the agent's disk": the agent finishes it even across its own restart;
- **finish** records the answer (through the agent's outbox); the first answer wins.

Every function here is synchronous catalog work: async callers run it in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from unifier.catalog import Catalog
from unifier.model import as_utc, utcnow
from unifier.zones.lease import Lease
from unifier.zones.tables import ZoneWorkRow, rows_changed

OPEN_STATES = ("queued", "delivered", "acked")


@dataclass
class WorkItem:
    id: int
    zone: str
    key: str
    kind: str
    job: str
    payload: dict[str, Any]
    state: str
    created_at: datetime
    deliveries: int
    attempt: int
    result: dict[str, Any] | None
    error: str | None
    error_type: str | None
    retryable: bool

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def wire(self) -> dict[str, Any]:
        """What the agent receives."""
        return {"id": self.id, "attempt": self.attempt, "kind": self.kind, "job": self.job,
                "payload": self.payload}


def _item(row: ZoneWorkRow) -> WorkItem:
    return WorkItem(id=row.id, zone=row.zone, key=row.key, kind=row.kind, job=row.job,
                    payload=row.payload, state=row.state, created_at=as_utc(row.created_at),
                    deliveries=row.deliveries, attempt=row.attempt, result=row.result, error=row.error,
                    error_type=row.error_type, retryable=row.retryable)


def enqueue(catalog: Catalog, zone: str, key: str, kind: str, job: str,
            payload: dict[str, Any]) -> WorkItem:
    """The work item under ``key``, queued now unless it exists. One that failed in a way
    worth retrying (the tool was down) is queued again."""
    for _ in range(2):
        try:
            with catalog.session() as s:
                row = s.scalar(select(ZoneWorkRow).where(ZoneWorkRow.zone == zone, ZoneWorkRow.key == key))
                if row is None:
                    row = ZoneWorkRow(zone=zone, key=key, kind=kind, job=job, payload=payload,
                                      state="queued", created_at=utcnow(), deliveries=0,
                                      attempt=1, retryable=False)
                    s.add(row)
                    s.flush()
                elif row.state == "failed" and row.retryable:
                    row.state, row.result, row.done_at, row.holder = "queued", None, None, None
                    row.attempt += 1
                return _item(row)
        except IntegrityError:  # queued by another process meanwhile: read theirs
            continue
    return get(catalog, zone, key)


def get(catalog: Catalog, zone: str, key: str) -> WorkItem:
    with catalog.session() as s:
        row = s.scalar(select(ZoneWorkRow).where(ZoneWorkRow.zone == zone, ZoneWorkRow.key == key))
        if row is None:
            raise KeyError(key)
        return _item(row)


def get_by_id(catalog: Catalog, work_id: int) -> WorkItem | None:
    with catalog.session() as s:
        row = s.get(ZoneWorkRow, work_id)
        return _item(row) if row else None


def claim(catalog: Catalog, lease: Lease, *, limit: int, redeliver_seconds: float) -> list[WorkItem]:
    """Items for the lease holder: queued ones, deliveries never acknowledged in time,
    and acknowledged ones whose holder has since lost the lease."""
    if not lease.active:
        return []
    now = utcnow()
    stale = now - timedelta(seconds=redeliver_seconds)
    with catalog.session() as s:
        rows = list(s.scalars(
            select(ZoneWorkRow)
            .where(ZoneWorkRow.zone == lease.zone, or_(
                ZoneWorkRow.state == "queued",
                and_(ZoneWorkRow.state == "delivered",
                     or_(ZoneWorkRow.delivered_at < stale, ZoneWorkRow.holder != lease.agent_id)),
                and_(ZoneWorkRow.state == "acked", ZoneWorkRow.generation < lease.generation),
            ))
            .order_by(ZoneWorkRow.id).limit(limit)
            .with_for_update(skip_locked=True)))
        for row in rows:
            row.state, row.delivered_at, row.holder = "delivered", now, lease.agent_id
            row.deliveries += 1
        return [_item(r) for r in rows]


def ack(catalog: Catalog, lease: Lease, ids: list[int]) -> list[int]:
    """The agent has these on disk. Only its own open deliveries are acknowledged."""
    if not ids:
        return []
    with catalog.session() as s:
        rows = list(s.scalars(select(ZoneWorkRow).where(
            ZoneWorkRow.id.in_(ids), ZoneWorkRow.zone == lease.zone,
            ZoneWorkRow.holder == lease.agent_id, ZoneWorkRow.state.in_(("delivered", "acked")))))
        now = utcnow()
        for row in rows:
            row.state, row.acked_at, row.generation = "acked", now, lease.generation
        return sorted(r.id for r in rows)


def finish(catalog: Catalog, zone: str, work_id: int, *, ok: bool, result: dict[str, Any] | None,
           error: str | None = None, error_type: str | None = None, retryable: bool = False) -> bool:
    """Record the agent's answer; False when the item is unknown, of another zone, or
    already answered (a second answer never replaces the first)."""
    with catalog.session() as s:
        done = s.execute(
            update(ZoneWorkRow)
            .where(ZoneWorkRow.id == work_id, ZoneWorkRow.zone == zone,
                   ZoneWorkRow.state.in_(OPEN_STATES))
            .values(state="done" if ok else "failed", result=result, error=error,
                    error_type=error_type, retryable=retryable, done_at=utcnow())
            .execution_options(synchronize_session=False))
        return rows_changed(done) == 1


@dataclass
class Backlog:
    waiting: int
    oldest_at: datetime | None


def backlogs(catalog: Catalog) -> dict[str, Backlog]:
    """Per zone: work not answered yet, and since when the oldest has waited."""
    with catalog.session() as s:
        rows = s.execute(
            select(ZoneWorkRow.zone, func.count(), func.min(ZoneWorkRow.created_at))
            .where(ZoneWorkRow.state.in_(OPEN_STATES)).group_by(ZoneWorkRow.zone)).all()
        return {zone: Backlog(count, as_utc(oldest)) for zone, count, oldest in rows}
