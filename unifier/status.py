"""The consolidated run-status view: one row per job, across every tool."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from unifier import schedule
from unifier.catalog import Catalog
from unifier.catalog.listing import JobFilter, Page
from unifier.model import Job, RunState, as_utc, utcnow


class LastRun(enum.StrEnum):
    """What the status view filters the last run by: a run state, or ``never`` (no run)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    NEVER = "never"


class StatusSort(enum.StrEnum):
    """The status view's orders (:data:`~unifier.catalog.listing.STATUS_SORTS`), each
    broken by the job URI; rows without the value (never ran, paused) come last."""

    JOB = "job"
    NAME = "name"
    INSTANCE = "instance"
    STATE = "state"  # the last run's, alphabetical
    LAST_RUN = "last_run"  # newest first
    NEXT_RUN = "next_run"  # soonest first, as the tool predicted it at the last sync


SORT_HELP = ("job (default), name, instance, state (of the last run), last_run (newest first) "
             "or next_run (soonest first, as predicted at the last sync)")


def status_filter(*, tool: str | None = None, instance: str | None = None, owner: str | None = None,
                  tag: str | None = None, text: str | None = None, paused: bool | None = None,
                  states: Sequence[LastRun] | None = None) -> JobFilter:
    """The status view's filter from what the CLI and the API take (``never``: no run)."""
    return JobFilter(tool=tool, instance=instance, owner=owner, tag=tag, text=text, paused=paused,
                     states=[None if s is LastRun.NEVER else RunState(s.value) for s in states or ()] or None)


class StatusRow(BaseModel):
    job: str
    kind: str
    instance: str
    name: str
    owner: str | None = None
    tags: list[str] = []
    url: str | None = None  # the job in its own tool's UI
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
            zone=stored.spec.get("zone"),
        ))
    return rows


def status_page(catalog: Catalog, where: JobFilter | None = None, *, scope: Sequence[str] | None = None,
                sort: str | None = None, limit: int | None = None, cursor: str | None = None,
                now: datetime | None = None) -> Page[StatusRow]:
    """Status rows in ``sort`` order (a name of :data:`~unifier.catalog.listing.STATUS_SORTS`;
    by job URI unless asked), a page at a time."""
    now = now or utcnow()
    found = catalog.status_page(where, scope=scope, sort=sort, limit=limit, cursor=cursor)
    upcoming = _Upcoming(now)
    rows = [StatusRow(
        job=r.uri, kind=r.kind, instance=r.instance, name=r.name, owner=r.owner, tags=r.tags or [], url=r.url,
        state=r.state, native_state=r.native_state, last_run_id=r.run_id,
        last_run_at=as_utc(r.started_at or r.queued_at or r.ended_at),
        next_run_at=upcoming.next_run_at(r.paused, r.next_run_at, r.schedule, r.timezone),
        schedule=r.schedule, paused=r.paused, instance_error=r.last_error,
    ) for r in found.items]
    return Page(rows, found.next_cursor)


def status_rows(catalog: Catalog, now: datetime | None = None) -> list[StatusRow]:
    """Every current job's status row, by job URI."""
    return status_page(catalog, now=now).items


class _Upcoming:
    """:func:`next_run_at` for many jobs at one instant: jobs share schedules, and a
    cron expression's next time is worth computing once per view, not once per job."""

    def __init__(self, now: datetime):
        self.now = now
        self._by_schedule: dict[tuple[str, str | None], datetime | None] = {}

    def next_run_at(self, paused: bool, predicted: datetime | None, cron: str | None,
                    timezone: str | None) -> datetime | None:
        if paused:
            return None
        predicted = as_utc(predicted)
        if predicted and predicted > self.now:
            return predicted
        if not cron:
            return None
        key = (cron, timezone)
        if key not in self._by_schedule:
            self._by_schedule[key] = (schedule.next_run(cron, timezone, self.now)
                                      if schedule.problem(cron) is None else None)
        return self._by_schedule[key]
