"""``unifier next``: what will run next across every tool, in time order.

Two sources of expected runs:

- each job's own schedule: the tool's own prediction (``Job.next_run_at``) where it
  gives one, then :func:`unifier.schedule.next_runs` of its cron expression in its time
  zone;
- the trigger graph: a downstream job starts when its trigger is satisfied, that is
  when the upstream run *ends*: its expected start plus the upstream job's median
  duration over its recent successful runs. Runs already running count too (they end
  at their start plus the median). Expected starts propagate down chains.

A trigger waiting for ``all`` of its conditions pairs the upstream runs in order (the
k-th firing waits for the k-th expected end of every condition); ``any`` fires on each
upstream end. Upstream runs are expected to succeed: a condition that waits for a
failure is not forecast. When a duration is unknown (no successful run yet), the
expected start is a lower bound and the row says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from unifier import schedule
from unifier.catalog import Catalog
from unifier.duration import format_duration
from unifier.errors import NotFound
from unifier.model import Job, RunState, as_utc, utcnow
from unifier.triggers.graph import GraphTrigger, TriggerGraph

DURATION_SAMPLE = 20  # recent successful runs the median is taken over
MAX_PER_JOB = 10_000  # scheduled occurrences per job inside the window (a */1 job for a week)


@dataclass(frozen=True)
class Expected:
    """One expected run. ``exact`` is False when ``at`` is only a lower bound (an
    upstream duration on the way is unknown)."""

    at: datetime
    job: str
    reason: str  # schedule | trigger
    detail: str  # the sentence a person reads: why, and on what the time rests
    trigger: str | None = None
    after: str | None = None  # the upstream job whose end starts it
    expected_end: datetime | None = None
    exact: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "job": self.job, "reason": self.reason, "detail": self.detail,
                "trigger": self.trigger, "after": self.after, "exact": self.exact,
                "expected_end": self.expected_end.isoformat() if self.expected_end else None}


@dataclass
class _Occurrence:
    start: datetime
    end: datetime | None  # None: duration unknown
    exact: bool
    row: Expected | None = None  # None for a run already under way


@dataclass
class Durations:
    """Median durations of jobs, read from the catalog once per job asked about."""

    catalog: Catalog
    sample: int = DURATION_SAMPLE
    known: dict[str, timedelta | None] = field(default_factory=dict)

    def __call__(self, job: str) -> timedelta | None:
        if job not in self.known:
            self.known[job] = median_duration(self.catalog, job, self.sample)
        return self.known[job]


def median_duration(catalog: Catalog, job: str, sample: int = DURATION_SAMPLE) -> timedelta | None:
    """Median duration of the job's most recent successful runs; None if it has none."""
    seconds = []
    for run in catalog.list_runs(job=job, states=[RunState.SUCCEEDED], limit=sample):
        began = run.started_at or run.queued_at
        if began and run.ended_at and run.ended_at >= began:
            seconds.append((run.ended_at - began).total_seconds())
    return timedelta(seconds=median(seconds)) if seconds else None


def scheduled_times(job: Job, now: datetime, until: datetime) -> list[tuple[datetime, str]]:
    """``(time, detail)`` of the job's own runs in ``(now, until]``."""
    if job.paused:
        return []
    found: list[tuple[datetime, str]] = []
    after = now
    predicted = as_utc(job.next_run_at)
    if predicted and now < predicted <= until:
        found.append((predicted, "schedule (as the tool predicts it)"))
        after = predicted  # the tool knows better (catch-up, hashing): nothing before it
    if job.schedule and schedule.problem(job.schedule) is None:
        tz = f" {job.timezone}" if job.timezone and job.timezone != "UTC" else ""
        detail = f"schedule {job.schedule}{tz}"
        for moment in schedule.next_runs(job.schedule, job.timezone, after, limit=MAX_PER_JOB, until=until):
            found.append((moment, detail))
    return found


def forecast(catalog: Catalog, triggers: list[GraphTrigger], *, within: timedelta = timedelta(hours=24),
             now: datetime | None = None, durations: Durations | None = None,
             only: str | None = None) -> list[Expected]:
    """Every run expected in ``(now, now + within]``, in time order; with ``only``, that
    job's alone, worked out from it and the jobs upstream of it (not the whole catalog)."""
    now = now or utcnow()
    until = now + within
    durations = durations or Durations(catalog)
    graph = TriggerGraph(t for t in triggers if not t.paused)
    jobs = {j.uri: j for j in catalog.list_jobs()} if only is None else _with_upstream(catalog, graph, only)
    occurrences: dict[str, list[_Occurrence]] = {}

    def end_of(job: str, start: datetime) -> datetime | None:
        taken = durations(job)
        return start + taken if taken is not None else None

    feeds_others = {e.upstream for e in graph.edges}
    for uri, job in jobs.items():
        known = durations(uri) if uri in feeds_others else None
        occurrences[uri] = [
            _Occurrence(at, at + known if known is not None else None, True,
                        Expected(at, uri, "schedule", detail,
                                 expected_end=at + known if known is not None else None))
            for at, detail in scheduled_times(job, now, until)]
    # runs under way end inside the window too, and their ends fire triggers
    for uri in feeds_others:
        for run in catalog.list_runs(job=uri, states=[RunState.RUNNING, RunState.QUEUED], limit=50):
            began = run.started_at or run.queued_at or now
            end = end_of(uri, began)
            # overdue, or of unknown duration: it ends from now on, no sooner
            occurrences.setdefault(uri, []).append(
                _Occurrence(began, max(end, now), True) if end else _Occurrence(now, None, True))

    for uri in graph.topological_order():
        for trigger in graph.triggers_into(uri):
            for start, after, exact in _firings(trigger, occurrences, durations):
                if start > until:
                    continue
                end = end_of(uri, start)
                detail = f"trigger {trigger.name} after {after} ends"
                taken = durations(after)
                if taken is not None:
                    detail += f" (median {format_duration(taken)})"
                if not exact:
                    detail += "; a duration on the way is unknown: at the earliest"
                row = Expected(start, uri, "trigger", detail, trigger=trigger.name, after=after,
                               expected_end=end, exact=exact)
                occurrences.setdefault(uri, []).append(_Occurrence(start, end, exact, row))
    rows = [o.row for found in occurrences.values() for o in found if o.row is not None and o.start >= now
            and (only is None or o.row.job == only)]
    return sorted(rows, key=lambda r: (r.at, r.job, r.reason))


def _with_upstream(catalog: Catalog, graph: TriggerGraph, job: str) -> dict[str, Job]:
    """``job`` and every catalogued job whose runs can lead to it through triggers."""
    seen, todo = {job}, [job]
    while todo:
        for edge in graph.upstream_edges(todo.pop()):
            if edge.upstream not in seen:
                seen.add(edge.upstream)
                todo.append(edge.upstream)
    found = {}
    for uri in seen:
        try:
            found[uri] = catalog.get_job(uri)
        except NotFound:  # named by a trigger, not (yet) in the catalog: nothing to forecast from
            pass
    return found


def _firings(trigger: GraphTrigger, occurrences: dict[str, list[_Occurrence]],
             durations: Durations) -> list[tuple[datetime, str, bool]]:
    """``(time, upstream whose end fires it, exact)`` of each expected firing.

    Only success is expected: a condition waiting for a failure (or a cancel) is not
    forecast to be met."""
    ends: list[tuple[str, list[tuple[datetime, bool]]]] = []
    for condition in trigger.spec.when.conditions:
        found = []
        if RunState.SUCCEEDED in condition.state:
            for occurrence in occurrences.get(condition.job, []):
                if occurrence.end is not None:
                    found.append((occurrence.end, occurrence.exact))
                else:  # unknown duration: it ends after it starts, no sooner
                    found.append((occurrence.start, False))
        ends.append((condition.job, sorted(found)))
    if trigger.spec.when.mode == "any":
        return sorted((at, job, exact) for job, found in ends for at, exact in found)
    firings = []
    for k in range(min((len(found) for _, found in ends), default=0)):
        paired = [(found[k][0], job, found[k][1]) for job, found in ends]
        at, last, _ = max(paired)
        firings.append((at, last, all(exact for _, _, exact in paired)))
    return firings
