"""Recording run observations: the merge rule, and the bulk writes that apply it.

A sync hands over thousands of observations at once. They are merged in batches: one
query reads the stored rows of a batch, the merge rule runs in memory, and the batch's
new runs, changed runs, run events and latest-run pointers are each written with one
statement (``executemany`` straight to the driver). The merge rule itself
(:func:`merge_observation`) is row-at-a-time and knows nothing of batching.

Where the time goes at tens of thousands of runs per second is Python, not the
database, so the hot path avoids what costs per row: SQLAlchemy's parameter and result
processing (values are converted here, once, by :class:`DriverWriter`), re-validating
models built from values already valid (``model_construct``), reading columns the merge
does not need, and rewriting columns (and their indexes) that did not change.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, DateTime

from unifier.catalog.tables import FiringRow, RunEventRow, RunRow, TriggerArrivalRow
from unifier.model import EVENT_FOR_STATE, Cause, CauseKind, EventType, Run, RunEvent, RunState, as_utc, utcnow

BATCH = 400  # keys per lookup query: well under SQLite's variable limit

_RUNS = RunRow.__table__
_COLUMNS = tuple(c.name for c in _RUNS.columns)
_MUTABLE = tuple(c for c in _COLUMNS if c not in ("id", "job", "run_id", "instance", "first_seen_at"))
# what the merge reads of a stored run: first_seen_at and updated_at are never read back
# (an observation always sets updated_at), and instance follows from the job
_READ = tuple(c for c in _COLUMNS if c not in ("instance", "first_seen_at", "updated_at"))
_UNREAD = object()  # the value before the merge of a column not read: always written


class StoredRun:
    """The stored values of one run, read once per batch and changed in memory.
    ``was`` keeps the values of :data:`_MUTABLE` as read, so that an update writes only
    the columns an observation changed."""

    __slots__ = (*_COLUMNS, "was")

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
    was: tuple[Any, ...]

    def __init__(self, **values: Any):
        for name in _COLUMNS:
            setattr(self, name, values.get(name))
        self.was = ()

    @classmethod
    def of(cls, values: Sequence[Any]) -> StoredRun:
        """From the columns :data:`_READ` in that order, converted (:meth:`DriverWriter.read`)."""
        stored = cls.__new__(cls)
        for name, value in zip(_READ, values, strict=True):
            setattr(stored, name, value)
        stored.was = tuple(getattr(stored, name) if name in _READ else _UNREAD for name in _MUTABLE)
        return stored

    @classmethod
    def first_seen(cls, obs: Run, now: datetime) -> StoredRun:
        return cls(job=obs.job, run_id=obs.run_id, instance=instance_of(obs.job), attempt=obs.attempt or 1,
                   parameters={}, cause={}, details={}, first_seen_at=now, updated_at=now)

    def values(self, names: Sequence[str] = _COLUMNS) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in names])

    def changed(self) -> tuple[str, ...]:
        """The columns of :data:`_MUTABLE` whose value differs from the one read."""
        return tuple(name for name, before in zip(_MUTABLE, self.was, strict=True)
                     if before is _UNREAD or getattr(self, name) != before)


def record_runs(conn: Connection, runs: list[Run]) -> list[RunEvent]:
    """Merge observations into the catalog (inside the caller's transaction); returns the
    events they caused, in the order they happened."""
    events: list[RunEvent] = []
    now = utcnow()
    driver = DriverWriter(conn)
    for start in range(0, len(runs), BATCH):
        events += _record_batch(driver, runs[start:start + BATCH], now)
    return events


def _record_batch(driver: DriverWriter, batch: list[Run], now: datetime) -> list[RunEvent]:
    stored = {(row.job, row.run_id): row for row in _stored(driver, {(r.job, r.run_id) for r in batch})}
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
        # the rows this batch inserts are the ones above the highest id before it (ids
        # only grow); each job's latest run moves to its highest, in the database
        before = driver.conn.exec_driver_sql("SELECT max(id) FROM runs").scalar() or 0
        driver.many("INSERT INTO runs ({columns}) VALUES ({values})", _COLUMNS[1:],
                    [r.values(_COLUMNS[1:]) for r in new.values()])
        _move_latest(driver, before)
    if changed:
        # one statement per set of changed columns: SQLite rewrites only the indexes of
        # the columns an UPDATE sets, and a run's observation usually changes few
        by_columns: dict[tuple[str, ...], list[StoredRun]] = defaultdict(list)
        for row in changed.values():
            by_columns[row.changed()].append(row)
        for columns, rows in by_columns.items():
            names = (*columns, "id")
            driver.many("UPDATE runs SET {assignments} WHERE id = {last}", names,
                        [row.values(names) for row in rows])
    if events:
        driver.many("INSERT INTO run_events ({columns}) VALUES ({values})", _EVENT_COLUMNS, [
            (e.job, e.run_id, e.attempt, _TEXT[e.event_type], _TEXT[e.state], e.native_state, e.event_time, now)
            for e in events])
    return events


# enum -> its value, looked up: reading ``.value`` of an enum is a slow descriptor call
_TEXT: dict[str, str] = {member: member.value for enum in (RunState, EventType) for member in enum}
_EVENT_COLUMNS = ("job", "run_id", "attempt", "event_type", "state", "native_state", "event_time", "recorded_at")
# the tables written in bulk (by record_runs and by trigger evaluation), whose columns of
# one name have one type
_BULK = (*_RUNS.columns, *RunEventRow.__table__.columns, *TriggerArrivalRow.__table__.columns,
         *FiringRow.__table__.columns)
_TIMES = frozenset(c.name for c in _BULK if isinstance(c.type, DateTime))
_JSONS = frozenset(c.name for c in _BULK if isinstance(c.type, JSON))


class DriverWriter:
    """Bulk reads and writes straight to the driver (``executemany``), the values
    converted here as SQLAlchemy would store and read them (datetimes and JSON of the
    runs, run events, trigger arrivals and firings tables). Going through SQLAlchemy's per-row
    parameter and result processing cost more than the database's own work; these
    statements carry every run a sync records.

    ``template`` names ``{columns}`` and ``{values}`` (an insert), ``{assignments}``
    and ``{last}`` (an update keyed by the last column), or ``{mark}`` for each value
    in the order of ``columns``."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def many(self, template: str, columns: Sequence[str],
             rows: Sequence[Sequence[Any]] | Sequence[dict[str, Any]]) -> None:
        """Run ``template`` once per row; a row is a sequence of values in the order of
        ``columns``, or a dict by column name."""
        sql = template.format(columns=", ".join(f'"{c}"' for c in columns),
                              values=", ".join([self.mark] * len(columns)),
                              assignments=", ".join(f'"{c}" = {self.mark}' for c in columns[:-1]),
                              last=self.mark, mark=self.mark)
        convert = [(i, f) for i, c in enumerate(columns) if (f := self._converter(c)) is not None]
        params: list[tuple[Any, ...]] = []
        for row in rows:
            values = [row[c] for c in columns] if isinstance(row, dict) else list(row)
            for i, f in convert:
                values[i] = f(values[i])
            params.append(tuple(values))
        self.conn.exec_driver_sql(sql, params)

    def read(self, sql: str, columns: Sequence[str], params: Sequence[Any]) -> list[list[Any]]:
        """Rows of ``sql`` (selecting ``columns`` in that order), datetimes in UTC and
        JSON decoded."""
        convert = [(i, f) for i, c in enumerate(columns) if (f := self._reader(c)) is not None]
        rows = []
        for raw in self.conn.exec_driver_sql(sql, tuple(params)).all():
            row = list(raw)
            for i, f in convert:
                if row[i] is not None:
                    row[i] = f(row[i])
            rows.append(row)
        return rows

    def time(self, value: datetime) -> datetime | str:
        """A time as a query parameter compared with stored times."""
        return _sqlite_time(value) if self.sqlite else value

    def _converter(self, column: str) -> Callable[[Any], Any] | None:
        if column in _JSONS:
            return _json_text
        if column in _TIMES and self.sqlite:
            return _SqliteTime()
        return None

    def _reader(self, column: str) -> Callable[[Any], Any] | None:
        if column in _JSONS:
            return _json_value
        if column in _TIMES:
            return _utc_value
        return None


class _SqliteTime:
    """SQLAlchemy's SQLite DateTime storage format (UTC; naive values are UTC already).
    Remembers its last answer: a batch stamps many rows with the same ``now``."""

    def __init__(self) -> None:
        self.last: tuple[datetime | None, str | None] = (None, None)

    def __call__(self, value: datetime | str | None) -> str | None:
        if value is None or isinstance(value, str):
            return value  # a stored time read as it is stored (copied from row to row)
        if value is self.last[0]:
            return self.last[1]
        text = _sqlite_time(value)
        self.last = (value, text)
        return text


def _sqlite_time(value: datetime) -> str:
    if value.tzinfo is UTC:  # the usual case (model times are UTC): drop the "+00:00"
        return value.isoformat(" ", "microseconds")[:26]
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _json_text(value: Any) -> str:
    """JSON text; most runs' parameters and details are empty, and that needs no encoder."""
    return "{}" if value == {} else json.dumps(value)


def _utc_value(value: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime (SQLite stores text, UTC, without offset)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


def _json_value(value: Any) -> Any:
    """A stored JSON value, decoded (SQLite hands back text; psycopg may have decoded it)."""
    return json.loads(value) if isinstance(value, str) else value


def _stored(driver: DriverWriter, keys: set[tuple[str, str]]) -> list[StoredRun]:
    """The stored runs with these (job, run_id) keys."""
    params = [value for key in keys for value in key]
    return [StoredRun.of(row) for row in driver.read(_lookup(len(keys), driver.mark), _READ, params)]


@functools.lru_cache(maxsize=16)
def _lookup(count: int, mark: str) -> str:
    """OR-ed key pairs, not a row-value IN: SQLite answers the latter with a scan of the
    whole table, the former from the unique index. Plain SQL text, built once per size:
    building (and cache-keying) hundreds of expression objects per batch costs more
    than the query."""
    where = " OR ".join([f"(job = {mark} AND run_id = {mark})"] * count)
    return f"SELECT {', '.join(_READ)} FROM runs WHERE {where}"


def _move_latest(driver: DriverWriter, after: int) -> None:
    """Point each job's latest run at its newest row above id ``after`` (the rows just
    inserted, and any a concurrent writer committed meanwhile: its newer row wins)."""
    driver.conn.exec_driver_sql(
        f"INSERT INTO latest_runs (job, run) SELECT job, max(id) FROM runs WHERE id > {driver.mark} "
        "GROUP BY job ON CONFLICT (job) DO UPDATE SET run = excluded.run WHERE latest_runs.run < excluded.run",
        (after,))


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
    # validated, not model_construct: pydantic's validator (in Rust) is the cheaper of the two
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
    row.state = _TEXT[obs.state]
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
    # (the stored cause is a dump of a valid Cause: read as it is, not validated again)
    stored_cause = row.cause or {}
    if not (keep_cause and stored_cause.get("kind", CauseKind.UNKNOWN) != CauseKind.UNKNOWN
            and (obs.cause.kind == CauseKind.UNKNOWN or stored_cause.get("firing_id"))):
        # a cause nobody set is the default one: its dump is a constant (dumping an enum
        # in JSON mode is a slow Python call per run)
        row.cause = _DEFAULT_CAUSE if not obs.cause.model_fields_set else obs.cause.model_dump(mode="json")
    row.log_url = obs.log_url or row.log_url
    row.details = {**(row.details or {}), **obs.details}
    row.updated_at = now


_DEFAULT_CAUSE: dict[str, Any] = Cause().model_dump(mode="json")  # never mutated: rows only replace it


def instance_of(job_uri: str) -> str:
    return job_uri.split("://", 1)[1].split("/", 1)[0]
