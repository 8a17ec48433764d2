"""Recording run observations: the merge rule, and the bulk writes that apply it.

A sync hands over thousands of observations at once. They are merged in batches: one
query reads the stored rows of a batch, the merge rule runs in memory, and the batch's
new runs, changed runs, run events and latest-run pointers are each written with one
statement. The merge rule itself (:func:`merge_observation`) is row-at-a-time and
knows nothing of batching.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Connection, DateTime, Result, TextClause, text

from unifier.catalog.database import dialect_insert
from unifier.catalog.tables import LatestRunRow, RunEventRow, RunRow, TriggerArrivalRow
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
    def of(cls, row: Any) -> StoredRun:
        """From a row selecting every column of ``runs`` in table order."""
        stored = cls.__new__(cls)
        for name, value in zip(_COLUMNS, row, strict=True):
            setattr(stored, name, value)
        return stored

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
    stored = {(row.job, row.run_id): StoredRun.of(row)
              for row in _keyed(conn, {(r.job, r.run_id) for r in batch}, _RUNS.c)}
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
    write = DriverWriter(conn)
    if new:
        write.many("INSERT INTO runs ({columns}) VALUES ({values})", _COLUMNS[1:],
                   [r.values(_COLUMNS[1:]) for r in new.values()])
        newest: dict[str, int] = {}
        for run_pk, job in _keyed(conn, set(new), (_RUNS.c.id, _RUNS.c.job)):
            newest[job] = max(run_pk, newest.get(job, 0))
        _move_latest(conn, newest)
    if changed:
        write.many("UPDATE runs SET {assignments} WHERE id = {last}", (*_MUTABLE, "id"),
                   [row.values((*_MUTABLE, "id")) for row in changed.values()])
    if events:
        write.many("INSERT INTO run_events ({columns}) VALUES ({values})", _EVENT_COLUMNS, [
            {"job": e.job, "run_id": e.run_id, "attempt": e.attempt, "event_type": e.event_type.value,
             "state": e.state.value, "native_state": e.native_state, "event_time": e.event_time,
             "recorded_at": now} for e in events])
    return events


_EVENT_COLUMNS = ("job", "run_id", "attempt", "event_type", "state", "native_state", "event_time", "recorded_at")
_TIMES = frozenset(c.name for c in (*_RUNS.columns, *RunEventRow.__table__.columns,
                                     *TriggerArrivalRow.__table__.columns) if isinstance(c.type, DateTime))
_JSONS = frozenset(c.name for c in _RUNS.columns if isinstance(c.type, JSON))


class DriverWriter:
    """Bulk writes straight to the driver (``executemany``), the values converted here as
    SQLAlchemy would store them (datetimes and JSON of the runs, run events and trigger
    arrivals tables). Going through SQLAlchemy's per-row parameter processing cost more
    than the database's own work; these statements carry every run a sync records.

    ``template`` names ``{columns}`` and ``{values}`` (an insert), ``{assignments}``
    and ``{last}`` (an update keyed by the last column), or ``{mark}`` for each value
    in the order of ``columns``."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def many(self, template: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
        sql = template.format(columns=", ".join(f'"{c}"' for c in columns),
                              values=", ".join([self.mark] * len(columns)),
                              assignments=", ".join(f'"{c}" = {self.mark}' for c in columns[:-1]),
                              last=self.mark, mark=self.mark)
        convert = [self._converter(c) for c in columns]
        self.conn.exec_driver_sql(sql, [tuple(f(row[c]) if f else row[c] for c, f in zip(columns, convert, strict=True))
                                        for row in rows])

    def _converter(self, column: str) -> Callable[[Any], Any] | None:
        if column in _JSONS:
            return json.dumps
        if column in _TIMES and self.sqlite:
            return _sqlite_time
        return None


def _sqlite_time(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DateTime storage format (UTC; naive values are UTC already)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _keyed(conn: Connection, keys: set[tuple[str, str]], columns: Sequence[Column[Any]]) -> Result[Any]:
    """``columns`` of the runs with these (job, run_id) keys."""
    params: dict[str, str] = {}
    for i, (job, run_id) in enumerate(keys):
        params[f"j{i}"], params[f"r{i}"] = job, run_id
    return conn.execute(_lookup(len(keys), tuple(columns)), params)


@functools.lru_cache(maxsize=16)
def _lookup(count: int, columns: tuple[Column[Any], ...]) -> TextClause:
    """OR-ed key pairs, not a row-value IN: SQLite answers the latter with a scan of the
    whole table, the former from the unique index. Plain SQL text, built once per size:
    building (and cache-keying) hundreds of expression objects per batch costs more
    than the query."""
    where = " OR ".join(f"(job = :j{i} AND run_id = :r{i})" for i in range(count))
    return text(f"SELECT {', '.join(c.name for c in columns)} FROM runs WHERE {where}").columns(*columns)


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
