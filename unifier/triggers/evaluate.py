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
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from unifier.catalog import Catalog
from unifier.catalog.runs import DriverWriter
from unifier.catalog.tables import (
    TriggerRow,
)
from unifier.duration import format_duration, parse_duration
from unifier.model import TERMINAL_STATES, utcnow
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


_RULES_KEPT = 200_000  # parsed rules kept in memory (a few hundred bytes each)
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
        self._warm = False  # every rule parsed once, on the first cycle

    def evaluate(self, *, now: datetime | None = None) -> EvaluationReport:
        if not self._warm:
            self.warm()
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
        if len(self._rules) + len(hashes) > _RULES_KEPT:
            self._rules.clear()
        unparsed: dict[str, str] = {}  # spec hash -> a trigger that has it
        for name, spec_hash in hashes.items():
            if spec_hash not in self._rules:
                unparsed.setdefault(spec_hash, name)
        names = sorted(unparsed.values())
        conn = s.connection()
        mark = DriverWriter(conn).mark
        for start in range(0, len(names), _BATCH):
            chunk = names[start:start + _BATCH]
            self._parse(conn.exec_driver_sql(
                f"SELECT spec_hash, spec FROM triggers WHERE name IN ({', '.join([mark] * len(chunk))})",
                tuple(chunk)))
        return {name: self._rules[h] for name, h in hashes.items()}

    def warm(self) -> None:
        """Parse every trigger's rule now (the reconciler calls this when it starts to
        lead): the cycle in which many triggers are satisfied at once then decides from
        rules in memory, instead of reading and parsing each spec on the way."""
        with self.catalog.session() as s:
            conn = s.connection()
            if conn.exec_driver_sql("SELECT count(*) FROM triggers").scalar_one() > _RULES_KEPT:
                return  # more than the cache keeps: parsed as needed
            self._parse(row for row in conn.exec_driver_sql("SELECT spec_hash, spec FROM triggers")
                        if row[0] not in self._rules)
        self._warm = True

    def _parse(self, rows: Iterable[Any]) -> None:
        for spec_hash, raw in rows:
            self._rules[spec_hash] = _parse_rule(json.loads(raw) if isinstance(raw, str) else raw)


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
# Both steps read and write straight through the driver (:class:`DriverWriter`): when
# every trigger is satisfied at once they carry 100,000 rows each way, and SQLAlchemy's
# per-row processing of that many cost several times the database's own work.


def collect(catalog: Catalog, report: EvaluationReport, evaluator: Evaluator) -> tuple[int, bool]:
    """Turn new terminal run events into arrivals. Returns (events read, more to read)."""
    with catalog.session() as s:
        driver = DriverWriter(s.connection())
        mark = driver.mark
        cursor = ledger.get_cursor(s, CURSOR)
        ids = [i for (i,) in driver.conn.exec_driver_sql(
            f"SELECT id FROM run_events WHERE id > {mark} ORDER BY id LIMIT {_EVENTS_PER_PASS}", (cursor,)).all()]
        position = evaluator.settled(cursor, ids)
        if position <= cursor:
            return 0, False
        more = len(ids) == _EVENTS_PER_PASS and position == ids[-1]
        terminal = ", ".join([mark] * len(_TERMINAL))
        # event_time is copied to the arrival as stored: never converted
        events = driver.conn.exec_driver_sql(
            f"SELECT id, job, run_id, state, event_time FROM run_events WHERE id > {mark} AND id <= {mark} "
            f"AND state IN ({terminal}) ORDER BY id", (cursor, position, *_TERMINAL)).all()
        report.events += len(events)
        by_job: dict[str, list[Any]] = defaultdict(list)
        for event in events:
            by_job[event[1]].append(event)
        jobs = list(by_job)
        arrivals: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        for start in range(0, len(jobs), _BATCH):
            chunk = jobs[start:start + _BATCH]
            rows = driver.conn.exec_driver_sql(
                "SELECT u.\"trigger\", u.job, u.states, t.baseline_event_id FROM trigger_upstreams u "
                "JOIN triggers t ON t.name = u.\"trigger\" "
                f"WHERE u.job IN ({', '.join([mark] * len(chunk))}) AND NOT t.paused AND NOT t.declared_paused",
                tuple(chunk)).all()
            for trigger, job, states, baseline in rows:
                wanted = states.split(",")
                for event_id, _, run_id, state, ended_at in by_job[job]:
                    if state in wanted and event_id > baseline:  # the last event of a run wins
                        arrivals[(trigger, job, run_id)] = (trigger, job, run_id, state, ended_at, event_id, None)
        if arrivals:
            _insert_new_arrivals(driver, list(arrivals.values()))
            touched = sorted({a[0] for a in arrivals})
            driver.many(f"UPDATE triggers SET dirty = {mark} WHERE name = {mark} AND NOT dirty",
                        ("dirty", "name"), [(True, name) for name in touched])
        report.arrivals += len(arrivals)
        ledger.set_cursor(s, CURSOR, position)
        return len(events), more


def _insert_new_arrivals(driver: DriverWriter, rows: list[tuple[Any, ...]]) -> None:
    """Insert, leaving alone arrivals already recorded (one run counts once per trigger;
    a run the tool restarts and finishes again does not arrive twice)."""
    driver.many("INSERT INTO trigger_arrivals ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING",
                _ARRIVAL_COLUMNS, rows)


# ---------------------------------------------------------------------- decide


@dataclass(frozen=True, slots=True)
class _Arrival:
    trigger: str
    job: str
    run_id: str
    state: str
    ended_at: datetime
    event_id: int


def decide(catalog: Catalog, report: EvaluationReport, evaluator: Evaluator, *,
           now: datetime | None = None) -> None:
    now = now or utcnow()
    with catalog.session() as s:
        driver = DriverWriter(s.connection())
        dirty = driver.conn.exec_driver_sql(
            "SELECT name, spec_hash, paused, declared_paused FROM triggers WHERE dirty").all()
        if not dirty:
            return
        report.triggers += len(dirty)
        active = evaluator.rules(s, {name: spec_hash for name, spec_hash, paused, declared in dirty
                                     if not (paused or declared)})
        names = sorted(active)
        open_arrivals: dict[str, list[_Arrival]] = defaultdict(list)
        recent: dict[str, list[datetime]] = defaultdict(list)
        # one joined read each, not a query per batch of names: the dirty triggers are the
        # ones read above (only this loop, on the leader, sets or clears the flag)
        for trigger, job, run_id, state, ended_at, event_id in driver.conn.exec_driver_sql(
                "SELECT a.\"trigger\", a.job, a.run_id, a.state, a.ended_at, a.event_id FROM trigger_arrivals a "
                "JOIN triggers t ON t.name = a.\"trigger\" WHERE t.dirty AND a.consumed_by IS NULL").all():
            if trigger in active:
                open_arrivals[trigger].append(_Arrival(trigger, job, run_id, state, _utc(ended_at), event_id))
        if active:
            widest = max(rule.window for rule in active.values())
            for trigger, created in driver.conn.exec_driver_sql(
                    "SELECT f.\"trigger\", f.created_at FROM firings f JOIN triggers t ON t.name = f.\"trigger\" "
                    f"WHERE t.dirty AND f.created_at >= {driver.mark}", (driver.time(now - widest),)).all():
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
                firing = ledger.firing_row(name, runs, list(rule.actions), now)
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
            driver.many("UPDATE trigger_arrivals SET consumed_by = {mark} "
                        'WHERE "trigger" = {mark} AND job = {mark} AND run_id = {mark}',
                        ("consumed_by", "trigger", "job", "run_id"),
                        [(c, t, j, r) for (t, j, r), c in consumed.items()])
        for name, reason in paused.items():
            s.execute(update(TriggerRow).where(TriggerRow.name == name)
                      .values(paused=True, paused_reason=reason, updated_at=now))
            log.warning("trigger %s paused: %s", name, reason)
        report.paused.update(paused)
        driver.many(f"UPDATE triggers SET dirty = {driver.mark} WHERE name = {driver.mark}", ("dirty", "name"),
                    [(False, d[0]) for d in dirty])
        fault_point("before-ledger-write")
    if report.firings:
        fault_point("after-ledger-write")


def _utc(value: datetime | str | None) -> datetime:
    """A NOT NULL timestamp column's value as the driver hands it over (text on SQLite), in UTC."""
    assert value is not None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _satisfied(rule: _Rule, arrivals: list[_Arrival]) -> list[list[_Arrival]]:
    """The upstream run sets that each make one firing, oldest first."""
    if len(arrivals) > 1:
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
