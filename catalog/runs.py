"""Recording run observations: the merge rule, and the bulk writes that apply it.

A sync hands over thousands of observations at once. They are merged in batches: one
query reads the stored rows of a batch, the merge rule runs in memory, and the batch's
new runs, changed runs, run events and latest-run pointers are each written with one
statement. The merge rule itself (:func:`merge_observation`) is row-at-a-time and
knows nothing of batching.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, tuple_, update

from unifier.catalog.database import dialect_insert
from unifier.catalog.tables import LatestRunRow, RunEventRow, RunRow
from unifier.model import EVENT_FOR_STATE, Cause, CauseKind, EventType, Run, RunEvent, RunState, as_utc, utcnow

BATCH = 400  # keys per IN (...) query: well under SQLite's variable limit

_RUNS = RunRow.__table__
_COLUMNS = tuple(c.name for c in _RUNS.columns)
_MUTABLE = tuple(c for c in _COLUMNS if c not in ("id", "job", "run_id", "instance", "first_seen_at"))


class StoredRun:
    """The stored values of one run, read once per batch and changed in memory."""

    __slots__ = _COLUMNS

    id: int | None
    job: str
    run_id: str
    instance: str
    state: str
    native_state: str | None
    attempt: int
    version: int | None
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    parameters: dict[str, Any]
    cause: dict[str, Any]
    log_url: str | None
    details: dict[str, Any]
    first_seen_at: datetime
    updated_at: datetime

    def __init__(self, **values: Any):
        for name in _COLUMNS:
            setattr(self, name, values.get(name))

    @classmethod
    def first_seen(cls, obs: Run, now: datetime) -> StoredRun:
        return cls(job=obs.job, run_id=obs.run_id, instance=instance_of(obs.job), attempt=obs.attempt or 1,
                   parameters={}, cause={}, details={}, first_seen_at=now, updated_at=now)

    def values(self, names: Sequence[str] = _COLUMNS) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names}


def record_runs(conn: Connection, runs: list[Run]) -> list[RunEvent]:
    """Merge observations into the catalog (inside the caller's transaction); returns the
    events they caused, in the order they happened."""
    events: list[RunEvent] = []
    now = utcnow()
    for start in range(0, len(runs), BATCH):
        events += _record_batch(conn, runs[start:start + BATCH], now)
    return events


def _record_batch(conn: Connection, batch: list[Run], now: datetime) -> list[RunEvent]:
    keys = {(r.job, r.run_id) for r in batch}
    stored = {(row.job, row.run_id): StoredRun(**row._asdict())
              for row in conn.execute(select(_RUNS).where(tuple_(_RUNS.c.job, _RUNS.c.run_id).in_(keys)))}
    new: dict[tuple[str, str], StoredRun] = {}
    changed: dict[int, StoredRun] = {}
    events: list[RunEvent] = []
    for obs in batch:
        key = (obs.job, obs.run_id)
        row = stored.get(key)
        new_events = merge_observation(row, obs)
        if row is None:
            row = stored[key] = new[key] = StoredRun.first_seen(obs, now)
            apply_observation(row, obs, obs.attempt or 1, now)
        elif new_events is None:
            continue  # stale observation: ignored
        else:
            attempt = new_events[0].attempt if new_events else row.attempt
            apply_observation(row, obs, attempt, now, keep_cause=True)
            if row.id is not None:
                changed[row.id] = row
        events += new_events or []
    if new:
        inserted = conn.execute(
            _RUNS.insert().returning(_RUNS.c.id, _RUNS.c.job, sort_by_parameter_order=True),
            [r.values(_COLUMNS[1:]) for r in new.values()]).all()
        _move_latest(conn, {job: run_pk for run_pk, job in inserted})  # ascending ids: the last wins
    if changed:
        conn.execute(
            update(_RUNS).where(_RUNS.c.id == bindparam("pk")),
            [{"pk": pk, **row.values(_MUTABLE)} for pk, row in changed.items()])
    if events:
        conn.execute(RunEventRow.__table__.insert(), [
            {"job": e.job, "run_id": e.run_id, "attempt": e.attempt, "event_type": e.event_type.value,
             "state": e.state.value, "native_state": e.native_state, "event_time": e.event_time,
             "recorded_at": now} for e in events])
    return events


def _move_latest(conn: Connection, newest: dict[str, int]) -> None:
    """Point each job's latest run at its newest row; a concurrent writer's newer row wins."""
    table = LatestRunRow.__table__
    insert = dialect_insert(conn)(table)
    conn.execute(
        insert.on_conflict_do_update(index_elements=[table.c.job], set_={"run": insert.excluded.run},
                                     where=table.c.run < insert.excluded.run),
        [{"job": job, "run": run_pk} for job, run_pk in newest.items()])


# ---------------------------------------------------------------------- merge rule


def merge_observation(row: StoredRun | None, obs: Run) -> list[RunEvent] | None:
    """Decide what an observation does to a stored run.

    Returns the events to append (possibly none), or ``None`` when the observation is
    stale and must be ignored. The attempt to store is the attempt of the events, or
    the stored one when there are none.

    Ordering within an attempt: by ``version`` when both sides carry one, else by the
    state's progress rank (queued < running < terminal). A terminal run seen again as
    started later than it ended was restarted by the tool (an Airflow "clear"): that
    is a new attempt of the same run.
    """
    if row is None:
        return _events_for_new_attempt(obs, obs.attempt or 1)
    stored_state = RunState(row.state)
    if obs.attempt is not None and obs.attempt < row.attempt:
        return None
    if obs.attempt is not None and obs.attempt > row.attempt:
        return _events_for_new_attempt(obs, obs.attempt)
    stored_start = as_utc(row.started_at)
    if obs.attempt is None and stored_start and obs.started_at and obs.started_at < stored_start:
        return None  # a late view of an earlier attempt
    if stored_state.terminal and _restarted(row, obs):
        return _events_for_new_attempt(obs, row.attempt + 1)
    if row.version is not None and obs.version is not None:
        if obs.version < row.version:
            return None
    elif obs.state.rank < stored_state.rank:
        return None
    if stored_state.terminal and not obs.state.terminal:
        return None  # a late, older view of a finished attempt
    if obs.state == stored_state:
        return []
    return [_event(obs, obs.state, row.attempt)]


def _restarted(row: StoredRun, obs: Run) -> bool:
    stored_end = as_utc(row.ended_at) or as_utc(row.started_at)
    began = obs.started_at or obs.queued_at
    if stored_end is None or began is None:
        return False
    if began <= stored_end:
        return False
    # a newer start than the stored attempt's end: the tool ran it again
    return not obs.state.terminal or (obs.started_at is not None and obs.started_at > stored_end)


def _events_for_new_attempt(obs: Run, attempt: int) -> list[RunEvent]:
    start_time = obs.queued_at or obs.started_at or obs.ended_at or utcnow()
    events = [_event(obs, RunState.QUEUED, attempt, when=start_time, event_type=EventType.START)]
    if obs.state not in (RunState.QUEUED,):
        events.append(_event(obs, obs.state, attempt))
    return events


def _event(obs: Run, state: RunState, attempt: int, *, when: datetime | None = None,
           event_type: EventType | None = None) -> RunEvent:
    if when is None:
        when = (obs.ended_at if state.terminal else obs.started_at) or utcnow()
    return RunEvent(
        event_type=event_type or EVENT_FOR_STATE[state],
        event_time=when,
        job=obs.job,
        run_id=obs.run_id,
        attempt=attempt,
        state=obs.state if event_type is None else state,
        native_state=obs.native_state,
    )


def apply_observation(row: StoredRun, obs: Run, attempt: int, now: datetime, keep_cause: bool = False) -> None:
    new_attempt = attempt != row.attempt
    row.state = obs.state.value
    row.native_state = obs.native_state
    row.attempt = attempt
    row.version = obs.version
    for name in ("queued_at", "started_at", "ended_at"):
        value = getattr(obs, name)
        if value is not None or new_attempt:
            setattr(row, name, value)
    if obs.parameters or not row.parameters:
        row.parameters = obs.parameters
    # the cause unifier recorded when it started the run outranks what the tool reports later
    stored_cause = Cause.model_validate(row.cause) if row.cause else None
    if not (keep_cause and stored_cause and stored_cause.kind != CauseKind.UNKNOWN
            and (obs.cause.kind == CauseKind.UNKNOWN or stored_cause.firing_id)):
        row.cause = obs.cause.model_dump(mode="json")
    row.log_url = obs.log_url or row.log_url
    row.details = {**(row.details or {}), **obs.details}
    row.updated_at = now


def instance_of(job_uri: str) -> str:
    return job_uri.split("://", 1)[1].split("/", 1)[0]
