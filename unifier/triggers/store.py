"""Where triggers and their firings are kept: the public storage API.

Triggers live in the catalog as written (``spec`` as in the file), with an index
upstream job -> triggers that lets the control loop find the triggers a finished run
concerns without reading every definition. Functions, all taking the
:class:`~unifier.catalog.Catalog` first::

    list_triggers(catalog, names=None) -> list[StoredTrigger]      # by name
    get_trigger(catalog, name) -> StoredTrigger                    # NotFound if absent
    put_trigger(catalog, name, spec, *, source=None) -> str        # created | configured | unchanged
    delete_trigger(catalog, name) -> None                          # its firings stay in the ledger
    pause_trigger(catalog, name, reason) -> None                   # paused at run time
    resume_trigger(catalog, name) -> bool                          # False when it was not paused
    list_firings(catalog, trigger=None, *, status=None, limit=None) -> list[Firing]   # newest first
    get_firing(catalog, firing_id) -> Firing

``StoredTrigger.paused`` is True when the trigger does not fire: paused in its spec
(``spec.paused``) or paused at run time (by the storm guard or ``unifier pause``);
``paused_reason`` says which and why. Applying a changed spec, or ``unifier resume``,
clears a run-time pause. A :class:`Firing` is one row of the ledger: the upstream runs
that caused it, its status (``pending`` until every action is issued, then ``issued``;
``failed`` when it can never be issued) and per action the downstream run started.

:data:`TRIGGER_APPLIER` is how ``unifier apply -f`` creates, configures and prunes
triggers (listed in :mod:`unifier.kinds`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from unifier.apply import Applier
from unifier.catalog import Catalog
from unifier.catalog.tables import (
    FiringRow,
    RunEventRow,
    TriggerArrivalRow,
    TriggerRow,
    TriggerUpstreamRow,
)
from unifier.errors import NotFound
from unifier.model import RunKey, as_utc, utcnow
from unifier.triggers.spec import TriggerSpec

if TYPE_CHECKING:
    from unifier.config.loader import Loaded

logger = logging.getLogger(__name__)

DECLARED_PAUSE = "paused in its spec (spec.paused: true)"


@dataclass
class StoredTrigger:
    name: str
    spec: TriggerSpec
    spec_hash: str
    source: str | None
    paused: bool
    paused_reason: str | None
    created_at: datetime
    updated_at: datetime
    raw_spec: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def upstream_jobs(self) -> list[str]:
        return sorted({c.job for c in self.spec.when.conditions})

    @property
    def downstream_jobs(self) -> list[str]:
        return [a.job for a in self.spec.then]


@dataclass
class FiringAction:
    """One ``then`` entry of a firing: what was (or will be) started downstream."""

    job: str
    firing_id: str  # passed to the adapter: the same id never starts two runs
    params: dict[str, Any] | None = None  # rendered once, then kept for every retry
    run_id: str | None = None  # set once the downstream run is recorded
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.job, "firing_id": self.firing_id, "params": self.params,
                "run_id": self.run_id, "error": self.error}


@dataclass
class Firing:
    id: str
    trigger: str
    upstream_runs: list[RunKey]
    status: str  # pending | issued | failed
    actions: list[FiringAction]
    error: str | None
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def downstream_runs(self) -> list[RunKey]:
        return [RunKey(job=a.job, run_id=a.run_id) for a in self.actions if a.run_id]


# ---------------------------------------------------------------------- triggers


def spec_of(raw: dict[str, Any]) -> TriggerSpec:
    """The validated spec of a stored one (``base_dir`` is the loader's, not the spec's)."""
    return TriggerSpec.model_validate({k: v for k, v in raw.items() if k != "base_dir"})


def hash_spec(raw: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


def list_triggers(catalog: Catalog, names: list[str] | None = None) -> list[StoredTrigger]:
    with catalog.session() as s:
        query = select(TriggerRow).order_by(TriggerRow.name)
        if names is not None:
            query = query.where(TriggerRow.name.in_(names))
        return [_stored(row) for row in s.scalars(query)]


def get_trigger(catalog: Catalog, name: str) -> StoredTrigger:
    with catalog.session() as s:
        return _stored(_trigger_row(s, name))


def _trigger_row(s: Session, name: str) -> TriggerRow:
    row = s.get(TriggerRow, name)
    if row is None:
        raise NotFound(f"no trigger named {name!r} (see `unifier triggers`)")
    return row


def put_trigger(catalog: Catalog, name: str, spec: dict[str, Any] | TriggerSpec, *,
                source: str | None = None, spec_hash: str | None = None) -> str:
    """Create or update a trigger; returns ``created``, ``configured`` or ``unchanged``.

    A new trigger only counts upstream runs that finish after it exists. A changed
    spec clears a run-time pause (the storm guard's) and is evaluated again."""
    raw = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True) if isinstance(
        spec, TriggerSpec) else dict(spec)
    parsed = spec_of(raw)
    spec_hash = spec_hash or hash_spec(raw)
    now = utcnow()
    with catalog.session() as s:
        row = s.get(TriggerRow, name)
        if row is not None and row.spec_hash == spec_hash:
            return "unchanged"
        if row is None:
            baseline = s.scalar(select(func.max(RunEventRow.id))) or 0
            row = TriggerRow(name=name, created_at=now, baseline_event_id=baseline)
            s.add(row)
            action = "created"
        else:
            action = "configured"
        row.spec, row.spec_hash, row.source, row.updated_at = raw, spec_hash, source, now
        row.declared_paused = parsed.paused
        row.paused, row.paused_reason = False, None
        row.dirty = True
        s.flush()
        _index_upstreams(s, name, parsed)
        return action


def _index_upstreams(s: Session, name: str, spec: TriggerSpec) -> None:
    states: dict[str, set[str]] = {}
    for condition in spec.when.conditions:
        states.setdefault(condition.job, set()).update(st.value for st in condition.state)
    s.execute(delete(TriggerUpstreamRow).where(TriggerUpstreamRow.trigger == name))
    s.add_all(TriggerUpstreamRow(trigger=name, job=job, states=",".join(sorted(st)))
              for job, st in states.items())
    # arrivals of jobs the trigger no longer waits for can never take part in a firing
    s.execute(delete(TriggerArrivalRow).where(
        TriggerArrivalRow.trigger == name, TriggerArrivalRow.consumed_by.is_(None),
        TriggerArrivalRow.job.not_in(list(states))))


def delete_trigger(catalog: Catalog, name: str) -> None:
    with catalog.session() as s:
        s.execute(delete(TriggerArrivalRow).where(TriggerArrivalRow.trigger == name))
        s.execute(delete(TriggerUpstreamRow).where(TriggerUpstreamRow.trigger == name))
        s.execute(delete(TriggerRow).where(TriggerRow.name == name))


def pause_trigger(catalog: Catalog, name: str, reason: str) -> None:
    with catalog.session() as s:
        row = _trigger_row(s, name)
        row.paused, row.paused_reason, row.updated_at = True, reason, utcnow()
    logger.info("trigger %s paused: %s", name, reason)


def resume_trigger(catalog: Catalog, name: str) -> bool:
    """Clear a run-time pause; the trigger then fires for runs that waited meanwhile."""
    with catalog.session() as s:
        row = _trigger_row(s, name)
        if not row.paused:
            return False
        row.paused, row.paused_reason, row.updated_at, row.dirty = False, None, utcnow(), True
    logger.info("trigger %s resumed", name)
    return True


def _stored(row: TriggerRow) -> StoredTrigger:
    reason = row.paused_reason if row.paused else (DECLARED_PAUSE if row.declared_paused else None)
    return StoredTrigger(
        name=row.name, spec=spec_of(row.spec), spec_hash=row.spec_hash, source=row.source,
        paused=bool(row.paused or row.declared_paused), paused_reason=reason,
        created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at), raw_spec=row.spec,
    )


# ---------------------------------------------------------------------- firings


def list_firings(catalog: Catalog, trigger: str | None = None, *, status: str | None = None,
                 limit: int | None = None) -> list[Firing]:
    """Newest first."""
    with catalog.session() as s:
        query = select(FiringRow)
        if trigger:
            query = query.where(FiringRow.trigger == trigger)
        if status:
            query = query.where(FiringRow.status == status)
        query = query.order_by(FiringRow.created_at.desc(), FiringRow.id)
        if limit:
            query = query.limit(limit)
        return [firing_from_row(r) for r in s.scalars(query)]


def get_firing(catalog: Catalog, firing_id: str) -> Firing:
    with catalog.session() as s:
        row = s.get(FiringRow, firing_id)
        if row is None:
            raise NotFound(f"no firing {firing_id!r} in the ledger")
        return firing_from_row(row)


def firing_from_row(row: FiringRow) -> Firing:
    return Firing(
        id=row.id, trigger=row.trigger,
        upstream_runs=[RunKey.model_validate(k) for k in row.upstream_runs],
        status=row.status, actions=[FiringAction(**a) for a in row.actions], error=row.error,
        attempts=row.attempts, next_attempt_at=as_utc(row.next_attempt_at),
        created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
    )


# ---------------------------------------------------------------------- apply


def _existing(catalog: Catalog) -> dict[str, str]:
    with catalog.session() as s:
        return dict(s.execute(select(TriggerRow.name, TriggerRow.spec_hash)).all())


def _put(catalog: Catalog, item: Loaded) -> str:
    return put_trigger(catalog, item.name, item.stored_spec(), source=item.location,
                       spec_hash=item.spec_hash())


TRIGGER_APPLIER = Applier(kind="Trigger", existing=_existing, put=_put, delete=delete_trigger)

__all__ = [
    "TRIGGER_APPLIER", "Firing", "FiringAction", "StoredTrigger", "delete_trigger", "get_firing", "get_trigger",
    "list_firings", "list_triggers", "pause_trigger", "put_trigger", "resume_trigger",
]
