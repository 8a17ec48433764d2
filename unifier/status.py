"""The consolidated run-status view: one row per job, across every tool."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from unifier import schedule
from unifier.catalog import Catalog
from unifier.model import Job, RunState, as_utc, utcnow


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
    zone: str | None = None  # served by this zone's agent (see `unifier zones`)


def instance_rows(catalog: Catalog) -> list[InstanceRow]:
    """Each configured instance and its health: the last sync and the last error."""
    rows = []
    for stored in catalog.list_instances():
        state = catalog.get_sync_state(stored.instance.name)
        health = state.health or {}
        rows.append(InstanceRow(
            name=stored.instance.name, adapter=stored.instance.kind,
            last_sync_at=state.last_sync_at, last_observed_at=state.last_observed_at,
            healthy=state.last_error is None and health.get("ok", True),
            error=state.last_error or (health.get("message") or None), source=stored.source,
            zone=stored.spec.get("zone"),
        ))
    return rows


def status_rows(catalog: Catalog, now: datetime | None = None) -> list[StatusRow]:
    now = now or utcnow()
    latest = catalog.latest_runs()
    errors = {s.instance.name: catalog.get_sync_state(s.instance.name).last_error
              for s in catalog.list_instances()}
    rows = []
    for job in catalog.list_jobs():
        run = latest.get(job.uri)
        rows.append(StatusRow(
            job=job.uri, kind=job.kind, instance=job.instance, name=job.name,
            state=run.state if run else None, native_state=run.native_state if run else None,
            last_run_id=run.run_id if run else None,
            last_run_at=(run.started_at or run.queued_at or run.ended_at) if run else None,
            next_run_at=next_run_at(job, now), schedule=job.schedule, paused=job.paused,
            instance_error=errors.get(job.instance),
        ))
    return rows
