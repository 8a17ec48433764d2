"""The catalog: every instance, job, run and run event, in one normalized model.

Reads return model objects (:mod:`unifier.model`), never rows. Writes go through the
few methods below, which keep the invariants the rest of unifier relies on:

- a run's state never moves backwards because an older observation arrives late or
  out of order (:func:`merge_observation`);
- a run the tool itself restarts becomes a new attempt of the same run;
- every state change appends exactly one RunEvent.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from unifier.catalog.database import create_catalog_engine, migrate
from unifier.catalog.tables import AuditRow, InstanceRow, JobRow, RunEventRow, RunRow, SyncStateRow
from unifier.duration import parse_duration
from unifier.errors import NotFound
from unifier.model import (
    EVENT_FOR_STATE,
    Cause,
    CauseKind,
    EventType,
    Instance,
    Job,
    Run,
    RunEvent,
    RunState,
    as_utc,
    utcnow,
)

_BATCH = 400  # keys per IN (...) query: well under SQLite's variable limit


@dataclass
class SyncState:
    instance: str
    watermark: str | None = None
    last_sync_at: datetime | None = None
    last_discovered_at: datetime | None = None
    last_observed_at: datetime | None = None
    last_error: str | None = None
    health: dict[str, Any] | None = None


@dataclass
class StoredInstance:
    instance: Instance
    spec: dict[str, Any]
    spec_hash: str
    source: str | None
    created_at: datetime
    updated_at: datetime


class Catalog:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None) -> Catalog:
        """Open (creating and migrating as needed) the catalog at ``url`` or the default."""
        engine = create_catalog_engine(url)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # ------------------------------------------------------------------ instances

    def list_instances(self) -> list[StoredInstance]:
        with self.session() as s:
            return [_stored_instance(r) for r in s.scalars(select(InstanceRow).order_by(InstanceRow.name))]

    def get_instance(self, name: str) -> StoredInstance:
        with self.session() as s:
            row = s.get(InstanceRow, name)
            if row is None:
                raise NotFound(f"no instance named {name!r} (see `unifier apply`)")
            return _stored_instance(row)

    def put_instance(
        self, name: str, adapter: str, spec: dict[str, Any], spec_hash: str, source: str | None
    ) -> str:
        """Create or update; returns ``created``, ``configured`` or ``unchanged``."""
        now = utcnow()
        with self.session() as s:
            row = s.get(InstanceRow, name)
            if row is None:
                s.add(InstanceRow(name=name, adapter=adapter, spec=spec, spec_hash=spec_hash,
                                  source=source, created_at=now, updated_at=now))
                s.add(SyncStateRow(instance=name))
                return "created"
            if row.spec_hash == spec_hash and row.adapter == adapter:
                return "unchanged"
            if row.adapter != adapter:
                # another tool behind the same name: its old jobs and watermark mean nothing now
                s.execute(delete(JobRow).where(JobRow.instance == name))
                s.execute(delete(SyncStateRow).where(SyncStateRow.instance == name))
                s.add(SyncStateRow(instance=name))
            row.adapter, row.spec, row.spec_hash, row.source, row.updated_at = (
                adapter, spec, spec_hash, source, now)
            return "configured"

    def delete_instance(self, name: str) -> None:
        with self.session() as s:
            s.execute(delete(JobRow).where(JobRow.instance == name))
            s.execute(delete(SyncStateRow).where(SyncStateRow.instance == name))
            s.execute(delete(InstanceRow).where(InstanceRow.name == name))

    # ------------------------------------------------------------------ sync state

    def get_sync_state(self, instance: str) -> SyncState:
        with self.session() as s:
            row = s.get(SyncStateRow, instance)
            if row is None:
                return SyncState(instance=instance)
            return SyncState(
                instance=instance,
                watermark=row.watermark,
                last_sync_at=as_utc(row.last_sync_at),
                last_discovered_at=as_utc(row.last_discovered_at),
                last_observed_at=as_utc(row.last_observed_at),
                last_error=row.last_error,
                health=row.health,
            )

    def update_sync_state(self, instance: str, **fields: Any) -> None:
        with self.session() as s:
            row = s.get(SyncStateRow, instance)
            if row is None:
                row = SyncStateRow(instance=instance)
                s.add(row)
            for key, value in fields.items():
                setattr(row, key, value)

    # ------------------------------------------------------------------ jobs

    def upsert_jobs(self, instance: str, jobs: list[Job], *, complete: bool = True) -> dict[str, int]:
        """Store discovered jobs. With ``complete``, jobs of the instance missing from
        ``jobs`` are marked removed (their runs stay in the history)."""
        now = utcnow()
        counts = {"added": 0, "updated": 0, "removed": 0}
        with self.session() as s:
            existing = {r.uri: r for r in s.scalars(select(JobRow).where(JobRow.instance == instance))}
            seen = set()
            for job in jobs:
                seen.add(job.uri)
                values = _job_values(job)
                row = existing.get(job.uri)
                if row is None:
                    s.add(JobRow(**values, discovered_at=now, removed_at=None))
                    counts["added"] += 1
                    continue
                # next_run_at moves by itself as time passes: a job whose prediction
                # moved is stored, not counted as changed
                changed = row.removed_at is not None or any(
                    _differs(getattr(row, k), v) for k, v in values.items() if k != "next_run_at")
                row.next_run_at = job.next_run_at
                if changed:
                    for key, value in values.items():
                        setattr(row, key, value)
                    row.removed_at = None
                    counts["updated"] += 1
            if complete:
                for uri, row in existing.items():
                    if uri not in seen and row.removed_at is None:
                        row.removed_at = now
                        counts["removed"] += 1
        return counts

    def list_jobs(self, instance: str | None = None, *, include_removed: bool = False) -> list[Job]:
        with self.session() as s:
            query = select(JobRow).order_by(JobRow.uri)
            if instance:
                query = query.where(JobRow.instance == instance)
            if not include_removed:
                query = query.where(JobRow.removed_at.is_(None))
            return [_job(r) for r in s.scalars(query)]

    def get_job(self, uri: str) -> Job:
        with self.session() as s:
            row = s.get(JobRow, uri)
            if row is None or row.removed_at is not None:
                raise NotFound(f"no job {uri!r} in the catalog (run `unifier sync` or see `unifier jobs`)")
            return _job(row)

    # ------------------------------------------------------------------ runs

    def record_runs(self, runs: Iterable[Run]) -> list[RunEvent]:
        """Merge observations into the catalog; returns the events they caused."""
        runs = list(runs)
        events: list[RunEvent] = []
        now = utcnow()
        with self.session() as s:
            for start in range(0, len(runs), _BATCH):
                batch = runs[start : start + _BATCH]
                keys = {(r.job, r.run_id) for r in batch}
                stored = {
                    (row.job, row.run_id): row
                    for row in s.scalars(select(RunRow).where(tuple_(RunRow.job, RunRow.run_id).in_(keys)))
                }
                for obs in batch:
                    row = stored.get((obs.job, obs.run_id))
                    new_events = merge_observation(row, obs)
                    if row is None:
                        row = RunRow(job=obs.job, run_id=obs.run_id, instance=_instance_of(obs.job),
                                     first_seen_at=now)
                        s.add(row)
                        stored[(obs.job, obs.run_id)] = row
                        _apply(row, obs, obs.attempt or 1, now)
                    elif new_events is None:
                        continue  # stale observation: ignored
                    else:
                        attempt = new_events[0].attempt if new_events else row.attempt
                        _apply(row, obs, attempt, now, keep_cause=True)
                    for event in new_events or []:
                        s.add(RunEventRow(job=event.job, run_id=event.run_id, attempt=event.attempt,
                                          event_type=event.event_type.value, state=event.state.value,
                                          native_state=event.native_state, event_time=event.event_time,
                                          recorded_at=now))
                    events.extend(new_events or [])
        return events

    def get_run(self, job: str, run_id: str) -> Run:
        with self.session() as s:
            row = s.scalar(select(RunRow).where(RunRow.job == job, RunRow.run_id == run_id))
            if row is None:
                raise NotFound(f"no run {run_id!r} of {job!r} in the catalog")
            return _run(row)

    def find_run(self, run_id: str) -> list[Run]:
        """Runs with this native id, across jobs (for commands given a bare run id)."""
        with self.session() as s:
            return [_run(r) for r in s.scalars(select(RunRow).where(RunRow.run_id == run_id))]

    def list_runs(
        self,
        *,
        job: str | None = None,
        instance: str | None = None,
        states: Iterable[RunState] | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Newest first. ``since`` filters on the run's last activity."""
        with self.session() as s:
            query = select(RunRow)
            if job:
                query = query.where(RunRow.job == job)
            if instance:
                query = query.where(RunRow.instance == instance)
            if states:
                query = query.where(RunRow.state.in_([st.value for st in states]))
            if since:
                query = query.where(RunRow.updated_at >= since)
            query = query.order_by(RunRow.started_at.desc().nulls_last(), RunRow.id.desc())
            if limit:
                query = query.limit(limit)
            return [_run(r) for r in s.scalars(query)]

    def latest_runs(self) -> dict[str, Run]:
        """The most recent run of every job that has one."""
        with self.session() as s:
            latest: dict[str, Run] = {}
            query = select(RunRow).order_by(RunRow.job, RunRow.first_seen_at, RunRow.id)
            for row in s.scalars(query):
                latest[row.job] = _run(row)  # ordered ascending: the last one wins
            return latest

    def list_events(self, *, after_id: int = 0, job: str | None = None, limit: int = 1000) -> list[tuple[int, RunEvent]]:
        with self.session() as s:
            query = select(RunEventRow).where(RunEventRow.id > after_id)
            if job:
                query = query.where(RunEventRow.job == job)
            rows = s.scalars(query.order_by(RunEventRow.id).limit(limit))
            return [(r.id, _event_from_row(r)) for r in rows]

    def latest_event_id(self) -> int:
        """The id of the newest run event (0 when there is none): where a live stream starts."""
        with self.session() as s:
            return s.scalar(select(func.max(RunEventRow.id))) or 0

    # ------------------------------------------------------------------ audit

    def audit(self, action: str, target: str, detail: dict[str, Any] | None = None,
              actor: str | None = None, *, outcome: str = "ok", source: str | None = None) -> None:
        """Append to the hash-chained audit log (:mod:`unifier.catalog.audit`)."""
        from unifier.catalog import audit as audit_log

        with self.session() as s:
            audit_log.append(s, actor=actor or _actor(), action=action, target=target, detail=detail,
                             outcome=outcome, source=source)

    def list_audit(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit))
            return [{"at": as_utc(r.at), "actor": r.actor, "action": r.action, "target": r.target,
                     "detail": r.detail} for r in rows]


# ---------------------------------------------------------------------- merge rule


def merge_observation(row: RunRow | None, obs: Run) -> list[RunEvent] | None:
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


def _restarted(row: RunRow, obs: Run) -> bool:
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


def _apply(row: RunRow, obs: Run, attempt: int, now: datetime, keep_cause: bool = False) -> None:
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


# ---------------------------------------------------------------------- row -> model


def _instance_of(job_uri: str) -> str:
    return job_uri.split("://", 1)[1].split("/", 1)[0]


def _differs(stored: Any, new: Any) -> bool:
    if isinstance(stored, datetime) or isinstance(new, datetime):
        return as_utc(stored) != as_utc(new)
    return stored != new


def _job_values(job: Job) -> dict[str, Any]:
    return {
        "uri": job.uri, "instance": job.instance, "kind": job.kind, "native_id": job.native_id,
        "name": job.name, "description": job.description, "owner": job.owner, "tags": job.tags,
        "schedule": job.schedule, "timezone": job.timezone, "paused": job.paused, "url": job.url,
        "next_run_at": job.next_run_at, "extra": job.extra,
    }


def _job(row: JobRow) -> Job:
    return Job(
        uri=row.uri, instance=row.instance, kind=row.kind, native_id=row.native_id, name=row.name,
        description=row.description, owner=row.owner, tags=row.tags or [], schedule=row.schedule,
        timezone=row.timezone, paused=row.paused, url=row.url, next_run_at=as_utc(row.next_run_at),
        extra=row.extra or {},
    )


def _run(row: RunRow) -> Run:
    return Run(
        job=row.job, run_id=row.run_id, state=RunState(row.state), native_state=row.native_state,
        attempt=row.attempt, version=row.version, queued_at=row.queued_at, started_at=row.started_at,
        ended_at=row.ended_at, parameters=row.parameters or {},
        cause=Cause.model_validate(row.cause or {}), log_url=row.log_url, details=row.details or {},
    )


def _event_from_row(row: RunEventRow) -> RunEvent:
    return RunEvent(
        event_type=EventType(row.event_type), event_time=as_utc(row.event_time), job=row.job,
        run_id=row.run_id, attempt=row.attempt, state=RunState(row.state), native_state=row.native_state,
    )


def _stored_instance(row: InstanceRow) -> StoredInstance:
    spec = row.spec or {}
    return StoredInstance(
        instance=Instance(name=row.name, kind=row.adapter, config=spec.get("config", {}),
                          poll_interval=(parse_duration(spec["poll_interval"]).total_seconds()
                                         if spec.get("poll_interval") is not None else None)),
        spec=spec, spec_hash=row.spec_hash, source=row.source,
        created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
    )


def _actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"
