"""The consolidated run-status view: one row per job, across every tool."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from unifier import schedule
from unifier.catalog import Catalog
from unifier.catalog.listing import JobFilter, Page
from unifier.model import Job, Run, RunState, as_utc, utcnow


class StatusRow(BaseModel):
    job: str
    kind: str
    instance: str
    name: str
    state: RunState | None  # of the last run; None when it never ran
    native_state: str | None
    last_run_id: str | None
    last_run_at: datetime | None
    next_run_at: datetime | None
    schedule: str | None
    paused: bool
    instance_error: str | None = None


def next_run_at(job: Job, now: datetime | None = None) -> datetime | None:
    """The tool's own prediction while it is in the future, else the schedule's."""
    now = now or utcnow()
    if job.paused:
        return None
    predicted = as_utc(job.next_run_at)
    if predicted and predicted > now:
        return predicted
    if job.schedule and schedule.problem(job.schedule) is None:
        return schedule.next_run(job.schedule, job.timezone, now)
    return None


class InstanceRow(BaseModel):
    name: str
    adapter: str
    last_sync_at: datetime | None
    last_observed_at: datetime | None
    healthy: bool
    error: str | None
    source: str | None


def instance_rows(catalog: Catalog, *, scope: Sequence[str] | None = None) -> list[InstanceRow]:
    """Each configured instance and its health: the last sync and the last error."""
    rows = []
    for stored in catalog.list_instances(scope=scope):
        state = catalog.get_sync_state(stored.instance.name)
        health = state.health or {}
        rows.append(InstanceRow(
            name=stored.instance.name, adapter=stored.instance.kind,
            last_sync_at=state.last_sync_at, last_observed_at=state.last_observed_at,
            healthy=state.last_error is None and health.get("ok", True),
            error=state.last_error or (health.get("message") or None), source=stored.source,
        ))
    return rows


def status_page(catalog: Catalog, where: JobFilter | None = None, *, scope: Sequence[str] | None = None,
                sort: str | None = None, limit: int | None = None, cursor: str | None = None,
                now: datetime | None = None) -> Page[StatusRow]:
    """Status rows in ``sort`` order (by job URI, or ``last_run``: newest first), a page at a time."""
    now = now or utcnow()
    found = catalog.status_page(where, scope=scope, sort=sort, limit=limit, cursor=cursor)
    return Page([_status_row(job, run, error, now) for job, run, error in found.items], found.next_cursor)


def status_rows(catalog: Catalog, now: datetime | None = None) -> list[StatusRow]:
    """Every current job's status row, by job URI."""
    return status_page(catalog, now=now).items


def _status_row(job: Job, run: Run | None, instance_error: str | None, now: datetime) -> StatusRow:
    return StatusRow(
        job=job.uri, kind=job.kind, instance=job.instance, name=job.name,
        state=run.state if run else None, native_state=run.native_state if run else None,
        last_run_id=run.run_id if run else None,
        last_run_at=(run.started_at or run.queued_at or run.ended_at) if run else None,
        next_run_at=next_run_at(job, now), schedule=job.schedule, paused=job.paused,
        instance_error=instance_error,
    )
