"""The catalog: every instance, job, run and run event, in one normalized model.

Reads return model objects (:mod:`unifier.model`), never rows. Writes go through the
few methods below, which keep the invariants the rest of unifier relies on:

- a run's state never moves backwards because an older observation arrives late or
  out of order (:func:`merge_observation`);
- a run the tool itself restarts becomes a new attempt of the same run;
- every state change appends exactly one RunEvent.

Listings take filters, a ``scope`` (job-URI patterns; see :mod:`unifier.catalog.listing`)
and, as pages, a ``limit`` and a ``cursor``.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from unifier.catalog.database import create_catalog_engine, migrate
from unifier.catalog.listing import (
    JOB_SORTS,
    RUN_SORTS,
    STATUS_SORTS,
    JobFilter,
    Page,
    RunFilter,
    instance_scope,
    job_clauses,
    page,
    run_clauses,
    scope_clause,
    sort_named,
    status_query,
)
from unifier.catalog.runs import merge_observation, record_runs
from unifier.catalog.tables import (
    AuditRow,
    InstanceRow,
    JobRow,
    LatestRunRow,
    RunEventRow,
    RunRow,
    SyncStateRow,
)
from unifier.duration import parse_duration
from unifier.errors import NotFound
from unifier.model import (
    Cause,
    EventType,
    Instance,
    Job,
    Run,
    RunEvent,
    RunState,
    as_utc,
    utcnow,
)

__all__ = ["Catalog", "StoredInstance", "SyncState", "merge_observation"]


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

    def list_instances(self, *, scope: Sequence[str] | None = None) -> list[StoredInstance]:
        """By name; with ``scope``, the instances that may hold a job in scope."""
        with self.session() as s:
            query = select(InstanceRow).where(instance_scope(scope)).order_by(InstanceRow.name)
            return [_stored_instance(r) for r in s.scalars(query)]

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

    def list_jobs(self, instance: str | None = None, *, include_removed: bool = False,
                  scope: Sequence[str] | None = None) -> list[Job]:
        """Every job (of ``instance``), by URI."""
        return self.jobs_page(JobFilter(instance=instance), include_removed=include_removed, scope=scope).items

    def jobs_page(self, where: JobFilter | None = None, *, include_removed: bool = False,
                  scope: Sequence[str] | None = None, limit: int | None = None,
                  cursor: str | None = None) -> Page[Job]:
        """Jobs by URI, ``limit`` at a time (all of them without one)."""
        where = replace(where or JobFilter(), states=None)  # a job has no state: the status view has
        query = select(*JobRow.__table__.columns).where(*job_clauses(where, scope))
        if not include_removed:
            query = query.where(JobRow.removed_at.is_(None))
        with self.session() as s:
            return page(lambda q: s.execute(q).all(), query, JOB_SORTS["uri"], limit=limit, cursor=cursor,
                        item=_job)

    def get_job(self, uri: str) -> Job:
        with self.session() as s:
            row = s.get(JobRow, uri)
            if row is None or row.removed_at is not None:
                raise NotFound(f"no job {uri!r} in the catalog (run `unifier sync` or see `unifier jobs`)")
            return _job(row)

    def status_page(self, where: JobFilter | None = None, *, scope: Sequence[str] | None = None,
                    sort: str | None = None, limit: int | None = None,
                    cursor: str | None = None) -> Page[Row[Any]]:
        """Each current job with its latest run and its instance's last error, as rows of
        :data:`~unifier.catalog.listing.STATUS_COLUMNS`: read from the latest-run index, so
        the cost follows the jobs shown, not the history."""
        with self.session() as s:
            return page(lambda q: s.execute(q).all(), status_query().where(*job_clauses(where or JobFilter(), scope)),
                        sort_named(STATUS_SORTS, sort), limit=limit, cursor=cursor, item=lambda r: r)

    # ------------------------------------------------------------------ runs

    def record_runs(self, runs: Iterable[Run]) -> list[RunEvent]:
        """Merge observations into the catalog; returns the events they caused."""
        with self.session() as s:
            return record_runs(s.connection(), list(runs))

    def get_run(self, job: str, run_id: str) -> Run:
        with self.session() as s:
            row = s.scalar(select(RunRow).where(RunRow.job == job, RunRow.run_id == run_id))
            if row is None:
                raise NotFound(f"no run {run_id!r} of {job!r} in the catalog")
            return _run(row)

    def find_run(self, run_id: str, *, scope: Sequence[str] | None = None) -> list[Run]:
        """Runs with this native id, across jobs (for commands given a bare run id)."""
        with self.session() as s:
            query = select(RunRow).where(RunRow.run_id == run_id, scope_clause(RunRow.job, scope))
            return [_run(r) for r in s.scalars(query)]

    def list_runs(
        self,
        *,
        job: str | None = None,
        instance: str | None = None,
        states: Iterable[RunState] | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        scope: Sequence[str] | None = None,
    ) -> list[Run]:
        """Newest first. ``since`` filters on the run's last activity."""
        where = RunFilter(job=job, instance=instance, states=list(states) if states else None, since=since)
        return self.runs_page(where, scope=scope, limit=limit).items

    def runs_page(self, where: RunFilter | None = None, *, scope: Sequence[str] | None = None,
                  sort: str | None = None, limit: int | None = None, cursor: str | None = None) -> Page[Run]:
        """Runs newest first (by start, or by last activity with ``sort="updated"``)."""
        with self.session() as s:
            # plain rows, not ORM objects: a page holds thousands, and each becomes a model anyway
            query = select(*RunRow.__table__.columns).where(*run_clauses(where or RunFilter(), scope))
            return page(lambda q: s.execute(q).all(), query, sort_named(RUN_SORTS, sort), limit=limit,
                        cursor=cursor, item=_run)

    def latest_runs(self, *, scope: Sequence[str] | None = None) -> dict[str, Run]:
        """The most recent run of every job that has one."""
        with self.session() as s:
            query = (select(RunRow).join(LatestRunRow, LatestRunRow.run == RunRow.id)
                     .where(scope_clause(RunRow.job, scope)))
            return {row.job: _run(row) for row in s.scalars(query)}

    def list_events(self, *, after_id: int = 0, job: str | None = None, limit: int = 1000,
                    scope: Sequence[str] | None = None) -> list[tuple[int, RunEvent]]:
        with self.session() as s:
            query = select(RunEventRow).where(RunEventRow.id > after_id, scope_clause(RunEventRow.job, scope))
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

    def list_audit(self, limit: int = 100, *, scope: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Newest first; with ``scope``, only entries whose target is a job in scope."""
        with self.session() as s:
            query = select(AuditRow).where(scope_clause(AuditRow.target, scope))
            rows = s.scalars(query.order_by(AuditRow.id.desc()).limit(limit))
            return [{"at": as_utc(r.at), "actor": r.actor, "action": r.action, "target": r.target,
                     "detail": r.detail} for r in rows]


# ---------------------------------------------------------------------- row -> model


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


def _job(row: JobRow | Row[Any]) -> Job:
    return Job(
        uri=row.uri, instance=row.instance, kind=row.kind, native_id=row.native_id, name=row.name,
        description=row.description, owner=row.owner, tags=row.tags or [], schedule=row.schedule,
        timezone=row.timezone, paused=row.paused, url=row.url, next_run_at=as_utc(row.next_run_at),
        extra=row.extra or {},
    )


def _run(row: RunRow | Row[Any]) -> Run:
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
