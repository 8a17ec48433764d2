"""The catalog's tables (SQLAlchemy 2 declarative). Alembic migrations in
``migrations/versions`` create them; change both together (``alembic revision``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class InstanceRow(Base):
    __tablename__ = "instances"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    adapter: Mapped[str] = mapped_column(String(63))
    # spec as written (secret references unresolved), its digest, and where it came from
    spec: Mapped[dict[str, Any]]
    spec_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SyncStateRow(Base):
    """Per-instance progress of the control loop."""

    __tablename__ = "sync_state"

    instance: Mapped[str] = mapped_column(
        ForeignKey("instances.name", ondelete="CASCADE"), primary_key=True
    )
    watermark: Mapped[str | None] = mapped_column(Text)
    last_sync_at: Mapped[datetime | None]
    last_discovered_at: Mapped[datetime | None]
    # last time the tool answered; with last_error it is the instance's health
    last_observed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    health: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class JobRow(Base):
    __tablename__ = "jobs"

    uri: Mapped[str] = mapped_column(String(512), primary_key=True)
    instance: Mapped[str] = mapped_column(ForeignKey("instances.name", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(63))
    native_id: Mapped[str] = mapped_column(String(448))
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]]
    schedule: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str | None] = mapped_column(String(64))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str | None] = mapped_column(Text)
    next_run_at: Mapped[datetime | None]
    extra: Mapped[dict[str, Any]]
    discovered_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class RunRow(Base):
    __tablename__ = "runs"
    # the listings' sorts and filters, each answered from an index (newest first: on
    # PostgreSQL the migration creates them as DESC NULLS LAST, the order listed)
    __table_args__ = (
        UniqueConstraint("job", "run_id", name="uq_runs_job_run_id"),
        Index("ix_runs_updated_at", "updated_at"),
        Index("ix_runs_job_started", "job", "started_at"),
        Index("ix_runs_started", "started_at", "id"),
        Index("ix_runs_state_started", "state", "started_at", "id"),
        Index("ix_runs_instance_started", "instance", "started_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(512))
    instance: Mapped[str] = mapped_column(String(63))
    run_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    native_state: Mapped[str | None] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int | None] = mapped_column(BigInteger)
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    parameters: Mapped[dict[str, Any]]
    cause: Mapped[dict[str, Any]]
    log_url: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LatestRunRow(Base):
    """The newest run of each job (the one unifier saw last): the status view reads this
    instead of the history. Kept by ``record_runs``; a job may have one before discovery."""

    __tablename__ = "latest_runs"

    job: Mapped[str] = mapped_column(String(512), primary_key=True)
    run: Mapped[int] = mapped_column(Integer)  # runs.id


class RunEventRow(Base):
    """Append-only; ``id`` orders the history for streaming consumers."""

    __tablename__ = "run_events"
    __table_args__ = (Index("ix_run_events_recorded_at", "recorded_at"),)  # retention

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(512), index=True)
    run_id: Mapped[str] = mapped_column(String(255))
    attempt: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    native_state: Mapped[str | None] = mapped_column(String(64))
    event_time: Mapped[datetime]
    recorded_at: Mapped[datetime]


class AuditRow(Base):
    """Every action taken through unifier, refused attempts too. Hash-chained: ``hash``
    covers the entry and ``prev_hash`` (see :mod:`unifier.catalog.audit`); ids are
    assigned by the chain, without gaps, so a deleted entry shows."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok | denied | failed
    source: Mapped[str | None] = mapped_column(String(255))  # client address, "cli", "loop"
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")


class RetentionRow(Base):
    """A ``kind: Retention`` document as applied: how long history is kept."""

    __tablename__ = "retention"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    spec: Mapped[dict[str, Any]]
    spec_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


__all__ = ["AuditRow", "Base", "InstanceRow", "JobRow", "LatestRunRow", "RetentionRow", "RunEventRow",
           "RunRow", "SyncStateRow"]


# ---------------------------------------------------------------------- triggers
# Cross-tool triggers (unifier.triggers): definitions, the per-condition inbox of
# upstream runs ("arrivals"), the firing ledger, and the evaluation cursor.


class TriggerRow(Base):
    __tablename__ = "triggers"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    spec: Mapped[dict[str, Any]]  # as written
    spec_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)
    declared_paused: Mapped[bool] = mapped_column(Boolean, default=False)  # spec.paused
    # paused at run time (storm guard, `unifier pause`); cleared by a changed spec or `unifier resume`
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    # run events with an id up to this one happened before the trigger existed: they never count
    baseline_event_id: Mapped[int] = mapped_column(Integer, default=0)
    # has arrivals not yet evaluated (set with the arrivals, cleared by the evaluation)
    dirty: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TriggerUpstreamRow(Base):
    """Index upstream job -> triggers, so a finished run finds its triggers without a scan."""

    __tablename__ = "trigger_upstreams"

    trigger: Mapped[str] = mapped_column(ForeignKey("triggers.name", ondelete="CASCADE"), primary_key=True)
    job: Mapped[str] = mapped_column(String(512), primary_key=True, index=True)
    # states (comma separated) that satisfy any condition of the trigger naming this job
    states: Mapped[str] = mapped_column(String(128))


class TriggerArrivalRow(Base):
    """An upstream run that reached a state a trigger waits for. Consumed at most once:
    by the firing it took part in, or superseded by a newer run of the same job."""

    __tablename__ = "trigger_arrivals"
    __table_args__ = (Index("ix_trigger_arrivals_open", "trigger", "consumed_by"),)

    trigger: Mapped[str] = mapped_column(ForeignKey("triggers.name", ondelete="CASCADE"), primary_key=True)
    job: Mapped[str] = mapped_column(String(512), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    ended_at: Mapped[datetime]
    event_id: Mapped[int] = mapped_column(Integer)
    consumed_by: Mapped[str | None] = mapped_column(String(64))  # firing id, or "superseded:<firing>"


class FiringRow(Base):
    """The firing ledger: written before any downstream call, unique per upstream run set."""

    __tablename__ = "firings"
    __table_args__ = (
        UniqueConstraint("trigger", "upstream_key", name="uq_firings_trigger_upstream"),
        Index("ix_firings_status_next", "status", "next_attempt_at"),
        Index("ix_firings_trigger_created", "trigger", "created_at"),
        Index("ix_firings_status_updated", "status", "updated_at"),  # retention
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(63))
    upstream_key: Mapped[str] = mapped_column(String(64))
    upstream_runs: Mapped[list[Any]]
    # pending | issued | failed; awaiting_approval | rejected | expired (unifier.auth.approvals)
    status: Mapped[str] = mapped_column(String(32))
    actions: Mapped[list[Any]]  # per `then` entry: job, firing_id, params, run_id, error
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CursorRow(Base):
    """Named progress markers of the control loop (``evaluate``: last run event id read)."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


__all__ += ["CursorRow", "FiringRow", "TriggerArrivalRow", "TriggerRow", "TriggerUpstreamRow"]


class LeaderRow(Base):
    """Who leads the control loop and under which epoch (:mod:`unifier.leader`). The epoch
    fences a deposed leader: transactions that move a firing check it."""

    __tablename__ = "leader"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    epoch: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[datetime]
    renewed_at: Mapped[datetime]


__all__ += ["LeaderRow"]


# ---------------------------------------------------------------------- governance
# Identities, policies, approvals and the audit chain's head (unifier.auth, unifier.service).


class ApiTokenRow(Base):
    """An API token: only the SHA-256 of its secret is kept."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class PolicyRow(Base):
    """An AccessPolicy or ApprovalPolicy document, spec as written."""

    __tablename__ = "policies"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    spec: Mapped[dict[str, Any]]
    spec_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ApprovalRow(Base):
    """An approval request; ``id`` is the id of the ledger firing it holds back."""

    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job: Mapped[str] = mapped_column(String(512))
    params: Mapped[dict[str, Any]]
    requested_by: Mapped[str] = mapped_column(String(255))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(32), index=True)  # awaiting_approval|approved|rejected|expired
    policy: Mapped[str] = mapped_column(String(63))
    required: Mapped[int] = mapped_column(Integer)
    approvers: Mapped[list[Any]]  # subjects named by the policy
    decisions: Mapped[list[Any]]  # [{by, decision, reason, at}]
    decided_at: Mapped[datetime | None]


class AuditHeadRow(Base):
    """The audit chain's single head row: the last entry, and the anchor left by pruning.
    Appending locks this row first, so concurrent writers chain one after the other."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")
    anchor_id: Mapped[int] = mapped_column(BigInteger, default=0)  # last pruned entry
    anchor_hash: Mapped[str] = mapped_column(String(64), default="")


__all__ += ["ApiTokenRow", "ApprovalRow", "AuditHeadRow", "PolicyRow"]
