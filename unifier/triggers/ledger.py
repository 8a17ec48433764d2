"""The firing ledger: every firing is written here before anything is started downstream.

A firing's id is deterministic from its trigger and upstream runs
(:func:`firing_id`), and the ledger is unique per (trigger, upstream runs), so deciding
the same firing twice writes it once. Each action of a firing passes the adapter its
own deterministic id (:func:`action_firing_id`); adapters' ``trigger()`` is idempotent
per that id, so re-issuing a pending firing after a crash adopts the run the first
attempt started instead of starting another.

Life of a firing::

    pending --(every action's run recorded)--> issued
    pending --(render error, or the tool refuses for good)--> failed
    pending --(tool down)--> pending, retried at next_attempt_at (exponential backoff)
    awaiting_approval --(approved)--> pending;  --(rejected / timed out)--> rejected / expired

Every write that moves a firing takes an optional ``fence`` (:class:`unifier.leader.Fence`):
checked first, in the same transaction, so a deposed leader records nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from unifier.catalog import Catalog
from unifier.catalog.runs import DriverWriter
from unifier.catalog.tables import CursorRow, FiringRow, RunRow
from unifier.errors import NotFound
from unifier.leader import Fence
from unifier.model import Cause, RunKey, utcnow
from unifier.triggers.store import Firing, FiringAction, firing_from_row

MAX_BACKOFF = timedelta(minutes=5)


class UpstreamRun(Protocol):
    """What a firing needs of an upstream run: a :class:`RunKey`, or an arrival."""

    @property
    def job(self) -> str: ...

    @property
    def run_id(self) -> str: ...


class _Key(NamedTuple):
    """An upstream run's key without a model's validation (firings are built in bulk)."""

    job: str
    run_id: str


def upstream_key(runs: Iterable[UpstreamRun]) -> str:
    text = "\n".join(sorted(f"{k.job} {k.run_id}" for k in set(runs)))
    return hashlib.sha256(text.encode()).hexdigest()


def firing_id(trigger: str, runs: Iterable[UpstreamRun], key: str | None = None) -> str:
    """The same trigger and upstream runs always name the same firing."""
    digest = hashlib.sha256(f"{trigger}\n{key or upstream_key(runs)}".encode()).hexdigest()
    return f"f-{digest[:24]}"


def action_firing_id(firing: str, index: int) -> str:
    """The id passed to the downstream adapter for ``then[index]`` of a firing."""
    return f"{firing}-{index}"


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 10)))


# ---------------------------------------------------------------------- writing


def firing_row(trigger: str, runs: Sequence[UpstreamRun], actions: list[str], now: datetime) -> dict[str, Any]:
    """A pending firing of ``trigger`` for these upstream runs, as a ledger row."""
    keys = sorted({(k.job, k.run_id) for k in runs})
    key = upstream_key(_Key(job, run_id) for job, run_id in keys)
    fid = firing_id(trigger, (), key)
    return {
        "id": fid, "trigger": trigger, "upstream_key": key,
        # a RunKey's dump, built directly (evaluation writes up to 100,000 firings at once)
        "upstream_runs": [{"job": job, "run_id": run_id} for job, run_id in keys], "status": "pending",
        "actions": [FiringAction(job=job, firing_id=action_firing_id(fid, i)).as_dict()
                    for i, job in enumerate(actions)],
        "error": None, "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now,
    }


def insert_firings(s: Session, rows: list[dict[str, Any]]) -> list[str]:
    """Write pending firings inside the caller's transaction, skipping any already in
    the ledger (the same decision taken twice); returns the ids written.

    Straight to the driver (an id lookup per 400, one ``executemany``): evaluation may
    write 100,000 firings in one transaction, and SQLAlchemy's per-row processing of
    that many cost more than the database's work."""
    driver = DriverWriter(s.connection())
    have: set[str] = set()
    ids = [r["id"] for r in rows]
    for start in range(0, len(ids), 400):
        chunk = ids[start:start + 400]
        marks = ", ".join([driver.mark] * len(chunk))
        have.update(fid for (fid,) in driver.conn.exec_driver_sql(
            f"SELECT id FROM firings WHERE id IN ({marks})", tuple(chunk)))
    new = [r for r in rows if r["id"] not in have]
    # governance: a firing of a job an ApprovalPolicy guards is written awaiting_approval
    # (never due) with its approval request, in this same transaction (unifier.auth.approvals)
    from unifier.auth.approvals import gate

    gate(s, new)
    if new:
        driver.many("INSERT INTO firings ({columns}) VALUES ({values})", _FIRING_COLUMNS, new)
    return [r["id"] for r in new]


_FIRING_COLUMNS = tuple(c.name for c in FiringRow.__table__.columns)


def _due(now: datetime, limit: int) -> Select[FiringRow]:
    return (select(FiringRow).where(FiringRow.status == "pending", FiringRow.next_attempt_at <= now)
            .order_by(FiringRow.created_at, FiringRow.id).limit(limit))


def next_due_at(catalog: Catalog) -> datetime | None:
    with catalog.session() as s:
        return s.scalar(select(FiringRow.next_attempt_at).where(FiringRow.status == "pending")
                        .order_by(FiringRow.next_attempt_at).limit(1))


def _firing(s: Session, fid: str) -> FiringRow:
    row = s.get(FiringRow, fid)
    if row is None:
        raise NotFound(f"no firing {fid!r} in the ledger")
    return row


@contextmanager
def _fenced(catalog: Catalog, fence: Fence | None) -> Iterator[Session]:
    with catalog.session() as s:
        if fence is not None:
            fence.check(s)
        yield s


def claim_due(catalog: Catalog, *, now: datetime | None = None, limit: int = 200,
              skip: Collection[str] = (), only: Collection[str] | None = None,
              fence: Fence | None = None) -> list[Firing]:
    """Due pending firings (oldest first, none of ``skip``: those in flight; only those
    named in ``only`` when given), each with this attempt counted, in one transaction.
    The firings come back with their attempt count; nothing else about them changes
    until they are issued, retried or failed."""
    now = now or utcnow()
    claimed: list[Firing] = []
    due = _due(now, limit + len(skip))
    if only is not None:
        due = due.where(FiringRow.id.in_(list(only)))
    with _fenced(catalog, fence) as s:
        for row in s.scalars(due):
            if row.id in skip:
                continue
            row.attempts += 1
            row.updated_at = now
            claimed.append(firing_from_row(row))
            if len(claimed) == limit:
                break
    return claimed


def set_params(catalog: Catalog, params: dict[str, list[dict[str, Any]]],
               fence: Fence | None = None) -> None:
    """Keep the rendered parameters (firing id -> one dict per action), in one
    transaction: every retry sends exactly what the first attempt did."""
    with _fenced(catalog, fence) as s:
        for fid, rendered_all in params.items():
            row = _firing(s, fid)
            actions = [dict(a) for a in row.actions]
            for action, rendered in zip(actions, rendered_all, strict=False):
                if action.get("params") is None:
                    action["params"] = rendered
            row.actions, row.updated_at = actions, utcnow()


def record_actions(catalog: Catalog, recorded: list[tuple[str, int, RunKey, Cause]],
                   fence: Fence | None = None) -> None:
    """Downstream runs exist (firing id, action index, run, cause), in one transaction:
    note each in its firing (issued once every action has its run) and make its cause ours.

    The cause is written to the run here too, because a sync may have stored the run
    first with only what the tool knows of it (no trigger name, no upstream runs)."""
    now = utcnow()
    with _fenced(catalog, fence) as s:
        for fid, index, run, cause in recorded:
            row = _firing(s, fid)
            actions = [dict(a) for a in row.actions]
            actions[index].update(run_id=run.run_id, error=None)
            row.actions, row.updated_at = actions, now
            if all(a.get("run_id") for a in actions):
                row.status, row.error, row.next_attempt_at = "issued", None, None
            s.execute(update(RunRow).where(RunRow.job == run.job, RunRow.run_id == run.run_id)
                      .values(cause=cause.model_dump(mode="json")))


def action_failed(catalog: Catalog, fid: str, index: int, error: str, *, retry: bool,
                  fence: Fence | None = None) -> None:
    """An action could not be issued: retried later when the cause may pass (a tool that
    is down), else the firing fails once nothing is left to retry."""
    now = utcnow()
    with _fenced(catalog, fence) as s:
        row = _firing(s, fid)
        actions = [dict(a) for a in row.actions]
        actions[index]["error"] = error if retry else f"refused: {error}"
        row.actions, row.updated_at, row.error = actions, now, error
        if retry:
            row.next_attempt_at = now + backoff(row.attempts)
        elif all(a.get("run_id") or (a.get("error") or "").startswith("refused: ") for a in actions):
            row.status, row.next_attempt_at = "failed", None


def fail_firing(catalog: Catalog, fid: str, error: str, fence: Fence | None = None) -> None:
    with _fenced(catalog, fence) as s:
        row = _firing(s, fid)
        row.status, row.error, row.next_attempt_at, row.updated_at = "failed", error, None, utcnow()


# ---------------------------------------------------------------------- cursors


def get_cursor(s: Session, name: str) -> int:
    row = s.get(CursorRow, name)
    return row.position if row else 0


def set_cursor(s: Session, name: str, position: int) -> None:
    row = s.get(CursorRow, name)
    if row is None:
        s.add(CursorRow(name=name, position=position, updated_at=utcnow()))
    else:
        row.position, row.updated_at = position, utcnow()
