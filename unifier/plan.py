"""``unifier plan``: what applying files would change, and what the triggers would do.

Like ``terraform plan``: nothing is written. A plan is

- the changes :func:`unifier.apply.plan_apply` computes (instances and triggers
  created, configured, unchanged, deleted with ``--prune``);
- the trigger graph that would result (stored triggers the files leave alone stay,
  unless pruned), and its problems: cycles are **refused** (apply refuses them too,
  through :func:`refuse_cycles`); jobs missing from the catalog, fan-out beyond a limit
  and triggers expected to trip their storm guard are **warned**;
- an estimate of each trigger's firings per day from the upstream jobs' schedules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from unifier import schedule
from unifier.apply import Change, plan_apply
from unifier.catalog import Catalog
from unifier.config import ConfigSet
from unifier.duration import format_duration
from unifier.errors import ConfigError, Problem
from unifier.model import Job, JobRef, utcnow
from unifier.triggers.graph import Cycle, GraphTrigger, TriggerGraph
from unifier.triggers.store import list_triggers

DEFAULT_MAX_FAN_OUT = 10


@dataclass(frozen=True)
class PlanWarning:
    kind: str  # missing-job | fan-out | storm-guard
    subject: str  # the job or trigger concerned
    message: str
    location: str | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


@dataclass(frozen=True)
class Estimate:
    """A trigger's expected firings per day (None: unknown) and what it rests on."""

    trigger: str
    firings_per_day: float | None
    runs_started_per_day: float | None  # firings x downstream jobs
    mode: str
    upstream: tuple[tuple[str, float | None], ...]  # (job, its runs per day)
    paused: bool = False


@dataclass
class Plan:
    changes: list[Change]
    graph: TriggerGraph
    cycles: list[Cycle]
    cycle_problems: list[Problem]
    warnings: list[PlanWarning] = field(default_factory=list)
    estimates: list[Estimate] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.cycles)

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": [{"kind": c.kind, "name": c.name, "action": c.action, "source": c.source}
                        for c in self.changes],
            "refused": self.refused,
            "cycles": [c.to_json() for c in self.cycles],
            "warnings": [{"kind": w.kind, "subject": w.subject, "message": w.message, "location": w.location}
                         for w in self.warnings],
            "estimates": [{"trigger": e.trigger, "mode": e.mode, "paused": e.paused,
                           "firings_per_day": e.firings_per_day,
                           "runs_started_per_day": e.runs_started_per_day,
                           "upstream": [{"job": j, "runs_per_day": r} for j, r in e.upstream]}
                          for e in self.estimates],
        }


# ---------------------------------------------------------------------- the resulting trigger set


def stored_triggers(catalog: Catalog) -> list[GraphTrigger]:
    """The triggers the catalog keeps now."""
    return [GraphTrigger.from_stored(t) for t in list_triggers(catalog)]


def resulting_triggers(catalog: Catalog, config: ConfigSet, *, prune: bool = False) -> list[GraphTrigger]:
    """The trigger set after applying ``config``: the files' triggers replace stored
    ones of the same name; the others stay, unless ``prune``."""
    from_files = {item.name: GraphTrigger.from_loaded(item) for item in config.of_kind("Trigger")}
    if prune:
        return list(from_files.values())
    kept = {t.name: t for t in stored_triggers(catalog)}
    kept.update(from_files)
    return list(kept.values())


# ---------------------------------------------------------------------- cycles: refused


def _location(name: str, config: ConfigSet, graph: TriggerGraph) -> tuple[str, int]:
    for item in config.of_kind("Trigger"):
        if item.name == name:
            return item.source.file, item.source.line_of(("metadata", "name"))
    source = graph.triggers[name].source if name in graph.triggers else None
    if source:
        file, _, line = source.rpartition(":")
        if file and line.isdigit():
            return file, int(line)
        return source, 0
    return "catalog", 0


def _cycle_problems(cycles: list[Cycle], config: ConfigSet, graph: TriggerGraph) -> list[Problem]:
    named = {item.name for item in config.of_kind("Trigger")}
    problems = []
    for cycle in cycles:
        # locate it at a trigger the files name: that is the edit to undo
        culprit = next((t for t in cycle.triggers if t in named), cycle.triggers[0])
        file, line = _location(culprit, config, graph)
        problems.append(Problem(file, line, str(cycle)))
    return problems


def refuse_cycles(catalog: Catalog, config: ConfigSet, *, prune: bool = False) -> None:
    """Raise :class:`ConfigError` naming every cycle the applied trigger set would have.

    ``unifier apply`` calls this before writing, so that apply and plan agree."""
    if not config.of_kind("Trigger"):
        return  # applying no trigger cannot create a cycle (pruning only removes edges)
    graph = TriggerGraph(resulting_triggers(catalog, config, prune=prune))
    cycles = graph.cycles()
    if cycles:
        raise ConfigError(_cycle_problems(cycles, config, graph))


# ---------------------------------------------------------------------- the plan


def job_rate(job: Job | None, now: datetime) -> float | None:
    """Runs per day from a job's own schedule: 0 when paused or unscheduled, None
    when the job is unknown."""
    if job is None:
        return None
    if job.paused or not job.schedule or schedule.problem(job.schedule):
        return 0.0
    return float(schedule.runs_per_day(job.schedule, job.timezone, now))


def build_plan(catalog: Catalog, config: ConfigSet, *, prune: bool = False,
               max_fan_out: int = DEFAULT_MAX_FAN_OUT, now: datetime | None = None) -> Plan:
    now = now or utcnow()
    changes = plan_apply(catalog, config, prune=prune)
    graph = TriggerGraph(resulting_triggers(catalog, config, prune=prune))
    cycles = graph.cycles()
    plan = Plan(changes, graph, cycles, _cycle_problems(cycles, config, graph))
    jobs = {j.uri: j for j in catalog.list_jobs()}
    locations = {item.name: item.location for item in config.of_kind("Trigger")}
    plan.warnings += _missing_jobs(graph, jobs, catalog, config, prune, locations)
    for job, targets in graph.fan_out().items():
        if len(targets) > max_fan_out:
            plan.warnings.append(PlanWarning("fan-out", job, f"{job} starts {len(targets)} jobs directly "
                                                           f"(limit {max_fan_out}): {', '.join(targets)}"))
    trigger_rates, job_rates = graph.firings_per_day(lambda uri: job_rate(jobs.get(uri), now))
    for name, trigger in graph.triggers.items():
        rate = trigger_rates[name]
        downstream = len({a.job for a in trigger.spec.then})
        plan.estimates.append(Estimate(
            name, rate, None if rate is None else rate * downstream, trigger.spec.when.mode,
            tuple((c.job, job_rates.get(c.job)) for c in trigger.spec.when.conditions), trigger.paused))
        guard = trigger.spec.storm_guard
        if rate and guard.enabled and not trigger.paused:
            per_window = rate * guard.window / timedelta(days=1)
            if per_window > guard.max_firings:
                plan.warnings.append(PlanWarning(
                    "storm-guard", name, f"trigger {name} is expected to fire {per_window:g} times per "
                    f"{format_duration(guard.window)}, over its storm guard ({guard.max_firings}): it would pause",
                    locations.get(name)))
    return plan


def _missing_jobs(graph: TriggerGraph, jobs: dict[str, Job], catalog: Catalog, config: ConfigSet,
                  prune: bool, locations: dict[str, str]) -> list[PlanWarning]:
    stored = {s.instance.name for s in catalog.list_instances()}
    in_files = {item.name for item in config.instances}
    warnings = []
    for uri in graph.nodes:
        if uri in jobs:
            continue
        instance = JobRef.parse(uri).instance
        if instance in in_files and instance not in stored:
            why = f"instance {instance} is new: its jobs are discovered at its first sync after apply"
        elif prune and instance in stored and instance not in in_files:
            why = f"instance {instance} would be deleted by --prune"
        elif instance in stored or instance in in_files:
            why = f"instance {instance} has no such job (check the name, or run `unifier sync {instance}`)"
        else:
            why = f"no instance named {instance} in the catalog or the files"
        users = sorted({e.trigger for e in graph.upstream_edges(uri) + graph.downstream_edges(uri)})
        where = next((locations[t] for t in users if t in locations), None)
        warnings.append(PlanWarning("missing-job", uri, f"job {uri} is not in the catalog: {why}; "
                                                    f"named by trigger(s) {', '.join(users)}", where))
    return warnings
