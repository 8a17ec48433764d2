"""Evaluate: which triggers are newly satisfied, decided from the catalog alone.

Two transactions, each safe to cut short by a crash:

1. **collect** reads the run events appended since the ``evaluate`` cursor, keeps the
   terminal ones, finds the triggers waiting for those jobs through the upstream
   index, and records each matching run as an *arrival* of that trigger (at most one
   per trigger and run), marks those triggers dirty and moves the cursor — together.
   The cost follows the number of runs that finished, not the number of triggers.
2. **decide** looks at the dirty triggers only. ``any``: every open arrival is one
   firing. ``all``: the newest open arrival of each condition, all ended inside
   ``within`` if set, make one firing; older open arrivals of those jobs are
   superseded by it. Firings are written to the ledger as pending, arrivals marked
   consumed and triggers cleaned, in one transaction: either the firing exists and
   its runs are spent, or neither.

The storm guard is checked before each firing is written: a trigger that already fired
``max_firings`` times inside ``window`` is paused, with the reason, and writes nothing.
Triggers paused (in the spec or at run time) record no arrivals: runs that finish
while a trigger is paused never fire it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from unifier.catalog import Catalog
from unifier.catalog.runs import DriverWriter
from unifier.catalog.tables import (
    FiringRow,
    RunEventRow,
    TriggerArrivalRow,
    TriggerRow,
    TriggerUpstreamRow,
)
from unifier.duration import format_duration, parse_duration
from unifier.model import TERMINAL_STATES, RunKey, utcnow
from unifier.triggers import ledger
from unifier.triggers.faults import fault_point
from unifier.triggers.spec import StormGuard

log = logging.getLogger("unifier.triggers")

CURSOR = "evaluate"
_BATCH = 400  # keys per IN (...): under SQLite's variable limit
_EVENTS_PER_PASS = 20_000
_TERMINAL = [s.value for s in TERMINAL_STATES]
_ARRIVAL_COLUMNS = ("trigger", "job", "run_id", "state", "ended_at", "event_id", "consumed_by")

_DEFAULT_GUARD = StormGuard()  # defaults of a spec that leaves storm_guard out


@dataclass
class EvaluationReport:
    events: int = 0  # terminal run events read
    arrivals: int = 0
    triggers: int = 0  # triggers evaluated (dirty ones)
    firings: list[str] = field(default_factory=list)
    paused: dict[str, str] = field(default_factory=dict)  # trigger -> reason (storm guard)


@dataclass(frozen=True)
class _Rule:
    """What deciding needs of a spec, read straight from the stored JSON (validated at
    apply time), so evaluating many triggers does not re-validate many models."""

    mode: str
    conditions: tuple[tuple[str, frozenset[str]], ...]
    within: timedelta | None
    actions: tuple[str, ...]
    guard: bool
    max_firings: int
    window: timedelta


GAP_GRACE = 60.0  # seconds a gap in run event ids may be a transaction still committing


class Evaluator:
    """Evaluates the triggers of one catalog, cycle after cycle (the leader's reconciler
    owns one). What it keeps between cycles is not the truth, which is in the catalog:
    when each gap in run event ids was first seen (so a gap is waited for, then
    passed), and the rules parsed from trigger specs (a cache by spec hash)."""

    def __init__(self, catalog: Catalog, *, gap_grace: float = GAP_GRACE):
        self.catalog = catalog
        self.gap_grace = gap_grace
        self._gaps: dict[int, float] = {}  # first missing id -> time.monotonic() it was first seen
        self._rules: dict[str, _Rule] = {}  # spec hash -> rule

    def evaluate(self, *, now: datetime | None = None) -> EvaluationReport:
        report = EvaluationReport()
        while self.collect(report)[1]:  # more to read
            pass
        self.decide(report, now=now)
        return report

    def collect(self, report: EvaluationReport) -> tuple[int, bool]:
        return collect(self.catalog, report, self)

    def decide(self, report: EvaluationReport, *, now: datetime | None = None) -> None:
        decide(self.catalog, report, self, now=now)

    def settled(self, cursor: int, ids: Sequence[int]) -> int:
        """How far the cursor may move: to the last id before a gap in ``ids``.

        A gap is an event id not visible yet. On PostgreSQL a transaction that took its
        ids earlier may commit after one that took later ids; moving past the gap would
        skip its events forever. A gap still there after ``gap_grace`` seconds is a
        rolled-back transaction, and is passed. (SQLite, one writer at a time, has none.)"""
        expected, now = cursor + 1, time.monotonic()
        for event_id in ids:
            if event_id != expected:
                first_seen = self._gaps.setdefault(expected, now)
                if now - first_seen < self.gap_grace:
                    return expected - 1
                log.warning("run event ids %d-%d never appeared: taken for a rolled-back write",
                            expected, event_id - 1)
                self._gaps.pop(expected, None)
            expected = event_id + 1
        return expected - 1

    def rules(self, s: Session, hashes: dict[str, str]) -> dict[str, _Rule]:
        """Trigger name -> rule, for ``hashes`` (name -> spec hash); specs are read only
        for hashes not parsed before (by trigger name: the primary key)."""
        if len(self._rules) + len(hashes) > 200_000:
            self._rules.clear()
        unparsed: dict[str, str] = {}  # spec hash -> a trigger that has it
        for name, spec_hash in hashes.items():
            if spec_hash not in self._rules:
                unparsed.setdefault(spec_hash, name)
        names = sorted(unparsed.values())
        for start in range(0, len(names), _BATCH):
            for spec_hash, raw in s.execute(select(TriggerRow.spec_hash, TriggerRow.spec)
                                            .where(TriggerRow.name.in_(names[start:start + _BATCH]))):
                self._rules[spec_hash] = _parse_rule(raw)
        return {name: self._rules[h] for name, h in hashes.items()}


def _parse_rule(raw: dict[str, Any]) -> _Rule:
    when = raw["when"]
    mode = "all" if when.get("all") is not None else "any"
    conditions = []
    for c in when[mode]:
        states = c.get("state", ["succeeded"])
        conditions.append((c["job"], frozenset([states] if isinstance(states, str) else states)))
    guard = raw.get("storm_guard") or {}
    within = when.get("within")
    return _Rule(
        mode=mode, conditions=tuple(conditions),
        within=_duration(within) if within is not None else None,
        actions=tuple(a["job"] for a in raw["then"]),
        guard=guard.get("enabled", _DEFAULT_GUARD.enabled),
        max_firings=guard.get("max_firings", _DEFAULT_GUARD.max_firings),
        window=_duration(guard["window"]) if "window" in guard else _DEFAULT_GUARD.window,
    )


@functools.lru_cache(maxsize=1024)
def _duration(value: str | float) -> timedelta:
    return parse_duration(value)


def evaluate(catalog: Catalog, *, now: datetime | None = None) -> EvaluationReport:
    """One evaluation with a fresh :class:`Evaluator`: a gap in event ids stops it (the
    grace period needs an evaluator kept across cycles, as the reconciler keeps one)."""
    return Evaluator(catalog).evaluate(now=now)


# ---------------------------------------------------------------------- collect


def collect(catalog: Catalog, report: EvaluationReport, evaluator: Evaluator) -> tuple[int, bool]:
    """Turn new terminal run events into arrivals. Returns (events read, more to read)."""
    with catalog.session() as s:
        cursor = ledger.get_cursor(s, CURSOR)
        ids = s.scalars(select(RunEventRow.id).where(RunEventRow.id > cursor)
                        .order_by(RunEventRow.id).limit(_EVENTS_PER_PASS)).all()
        position = evaluator.settled(cursor, ids)
        if position <= cursor:
            return 0, False
        more = len(ids) == _EVENTS_PER_PASS and position == ids[-1]
        events = s.execute(
            select(RunEventRow.id, RunEventRow.job, RunEventRow.run_id, RunEventRow.state,
                   RunEventRow.event_time)
            .where(RunEventRow.id > cursor, RunEventRow.id <= position,
                   RunEventRow.state.in_(_TERMINAL))
            .order_by(RunEventRow.id)).all()
        report.events += len(events)
        by_job: dict[str, list[Any]] = defaultdict(list)
        for event in events:
            by_job[event.job].append(event)
        jobs = list(by_job)
        arrivals: dict[tuple[str, str, str], dict[str, Any]] = {}
        for start in range(0, len(jobs), _BATCH):
            rows = s.execute(
                select(TriggerUpstreamRow.trigger, TriggerUpstreamRow.job, TriggerUpstreamRow.states,
                       TriggerRow.baseline_event_id)
                .join(TriggerRow, TriggerRow.name == TriggerUpstreamRow.trigger)
                .where(TriggerUpstreamRow.job.in_(jobs[start:start + _BATCH]),
                       TriggerRow.paused.is_(False), TriggerRow.declared_paused.is_(False))).all()
            for trigger, job, states, baseline in rows:
                wanted = states.split(",")
                for event in by_job[job]:
                    if event.state in wanted and event.id > baseline:
                        arrivals[(trigger, job, event.run_id)] = {
                            "trigger": trigger, "job": job, "run_id": event.run_id,
                            "state": event.state, "ended_at": event.event_time,
                            "event_id": event.id, "consumed_by": None}
        if arrivals:
            _insert_new_arrivals(s, list(arrivals.values()))
            touched = sorted({a[0] for a in arrivals})
            for start in range(0, len(touched), _BATCH):
                s.execute(update(TriggerRow).where(TriggerRow.name.in_(touched[start:start + _BATCH]))
                          .values(dirty=True))
        report.arrivals += len(arrivals)
        ledger.set_cursor(s, CURSOR, position)
        return len(events), more


def _insert_new_arrivals(s: Session, rows: list[dict[str, Any]]) -> None:
    """Insert, leaving alone arrivals already recorded (one run counts once per trigger;
    a run the tool restarts and finishes again does not arrive twice)."""
    DriverWriter(s.connection()).many("INSERT INTO trigger_arrivals ({columns}) VALUES ({values}) "
                                      "ON CONFLICT DO NOTHING", _ARRIVAL_COLUMNS, rows)


# ---------------------------------------------------------------------- decide


@dataclass(frozen=True)
class _Arrival:
    trigger: str
    job: str
    run_id: str
    state: str
    ended_at: datetime
    event_id: int

    @property
    def key(self) -> RunKey:
        return RunKey(job=self.job, run_id=self.run_id)


def decide(catalog: Catalog, report: EvaluationReport, evaluator: Evaluator, *,
           now: datetime | None = None) -> None:
    now = now or utcnow()
    with catalog.session() as s:
        dirty = s.execute(select(TriggerRow.name, TriggerRow.spec_hash, TriggerRow.paused,
                                 TriggerRow.declared_paused)
                          .where(TriggerRow.dirty.is_(True))).all()
        if not dirty:
            return
        report.triggers += len(dirty)
        active = evaluator.rules(s, {d.name: d.spec_hash for d in dirty if not (d.paused or d.declared_paused)})
        names = sorted(active)
        open_arrivals: dict[str, list[_Arrival]] = defaultdict(list)
        recent: dict[str, list[datetime]] = defaultdict(list)
        # one joined read each, not a query per batch of names: the dirty triggers are the
        # ones read above (only this loop, on the leader, sets or clears the flag)
        for row in s.execute(select(
                TriggerArrivalRow.trigger, TriggerArrivalRow.job, TriggerArrivalRow.run_id,
                TriggerArrivalRow.state, TriggerArrivalRow.ended_at, TriggerArrivalRow.event_id)
                .join(TriggerRow, TriggerRow.name == TriggerArrivalRow.trigger)
                .where(TriggerRow.dirty.is_(True), TriggerArrivalRow.consumed_by.is_(None))):
            if row.trigger in active:
                open_arrivals[row.trigger].append(
                    _Arrival(*row[:4], _utc(row.ended_at), row.event_id))
        if active:
            widest = max(rule.window for rule in active.values())
            for trigger, created in s.execute(
                    select(FiringRow.trigger, FiringRow.created_at)
                    .join(TriggerRow, TriggerRow.name == FiringRow.trigger)
                    .where(TriggerRow.dirty.is_(True), FiringRow.created_at >= now - widest)):
                recent[trigger].append(_utc(created))

        firings: dict[str, dict[str, Any]] = {}  # id -> row, in decision order
        consumed: dict[tuple[str, str, str], str] = {}  # arrival -> firing (or superseded:firing)
        paused: dict[str, str] = {}
        for name in names:
            rule = active[name]
            arrivals = open_arrivals.get(name, [])
            for runs in _satisfied(rule, arrivals):
                if rule.guard:
                    fired = sum(1 for t in recent[name] if t >= now - rule.window)
                    if fired >= rule.max_firings:
                        paused[name] = (f"storm guard: {fired} firings in the last "
                                        f"{format_duration(rule.window)} (max {rule.max_firings}); "
                                        f"fix the trigger and apply it, or `unifier resume {name}`")
                        break
                firing = ledger.firing_row(name, [a.key for a in runs], list(rule.actions), now)
                firings.setdefault(firing["id"], firing)
                recent[name].append(now)
                for arrival in runs:
                    consumed[(name, arrival.job, arrival.run_id)] = firing["id"]
                if rule.mode == "all":
                    # the newest run of each job was taken: older open runs of those jobs
                    # can never be chosen, so this firing spends them too
                    jobs = {a.job for a in runs}
                    for arrival in arrivals:
                        if arrival.job in jobs:
                            consumed.setdefault((name, arrival.job, arrival.run_id),
                                                f"superseded:{firing['id']}")

        report.firings += ledger.insert_firings(s, list(firings.values()))
        if consumed:
            DriverWriter(s.connection()).many(
                "UPDATE trigger_arrivals SET consumed_by = {mark} "
                'WHERE "trigger" = {mark} AND job = {mark} AND run_id = {mark}',
                ("consumed_by", "trigger", "job", "run_id"),
                [{"consumed_by": c, "trigger": t, "job": j, "run_id": r} for (t, j, r), c in consumed.items()])
        for name, reason in paused.items():
            s.execute(update(TriggerRow).where(TriggerRow.name == name)
                      .values(paused=True, paused_reason=reason, updated_at=now))
            log.warning("trigger %s paused: %s", name, reason)
        report.paused.update(paused)
        for start in range(0, len(dirty), _BATCH):
            s.execute(update(TriggerRow)
                      .where(TriggerRow.name.in_([d.name for d in dirty[start:start + _BATCH]]))
                      .values(dirty=False))
        fault_point("before-ledger-write")
    if report.firings:
        fault_point("after-ledger-write")


def _utc(value: datetime | None) -> datetime:
    """A NOT NULL timestamp column's value, in UTC."""
    assert value is not None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _satisfied(rule: _Rule, arrivals: list[_Arrival]) -> list[list[_Arrival]]:
    """The upstream run sets that each make one firing, oldest first."""
    arrivals = sorted(arrivals, key=lambda a: (a.ended_at, a.event_id))
    if rule.mode == "any":
        return [[a] for a in arrivals
                if any(a.job == job and a.state in states for job, states in rule.conditions)]
    chosen: list[_Arrival] = []
    for job, states in rule.conditions:
        newest = [a for a in arrivals if a.job == job and a.state in states]
        if not newest:
            return []
        if newest[-1] not in chosen:
            chosen.append(newest[-1])
    if rule.within is not None:
        ends = [a.ended_at for a in chosen]
        if max(ends) - min(ends) > rule.within:
            return []
    return [chosen]
