"""The catalog tables of zones (migration ``0006_zones``). They share the catalog's
declarative base, so one metadata describes the whole schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, Result, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from unifier.catalog.tables import Base


class ZoneWorkRow(Base):
    """One piece of work for a zone's agent. ``key`` makes enqueueing idempotent: a
    trigger's key holds its firing id, so a retried firing finds its first work item."""

    __tablename__ = "zone_work"
    __table_args__ = (
        UniqueConstraint("zone", "key", name="uq_zone_work_key"),
        Index("ix_zone_work_zone_state", "zone", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(String(700))
    kind: Mapped[str] = mapped_column(String(16))  # trigger | cancel | logs
    job: Mapped[str] = mapped_column(String(512))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # queued -> delivered (sent, not yet acknowledged) -> acked (on the agent's disk)
    # -> done | failed
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    # grows when work that failed for a reason worth retrying is queued again: the agent
    # executes each attempt once, however often it is delivered
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    holder: Mapped[str | None] = mapped_column(String(64))  # agent id it was delivered to
    generation: Mapped[int | None] = mapped_column(Integer)  # the holder's lease generation at ack
    acked_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    error_type: Mapped[str | None] = mapped_column(String(64))
    retryable: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None]


class ZoneAgentRow(Base):
    """An agent process identity (its id lives in its state directory) and the highest
    outbox sequence number applied from it."""

    __tablename__ = "zone_agents"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone: Mapped[str] = mapped_column(String(63), index=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    first_contact_at: Mapped[datetime]
    last_contact_at: Mapped[datetime]


class ZoneLeaseRow(Base):
    """Which agent is active in a zone. ``generation`` grows whenever another agent
    takes over, so work acknowledged under an older generation is handed out again."""

    __tablename__ = "zone_leases"

    zone: Mapped[str] = mapped_column(String(63), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime]
    renewed_at: Mapped[datetime]


def rows_changed(result: Result[Any]) -> int:
    """Rows an UPDATE touched: the compare-and-set's verdict. (``Session.execute`` is
    typed as returning a Result; for an UPDATE it is a CursorResult with a rowcount.)"""
    return int(getattr(result, "rowcount", 0))


__all__ = ["ZoneAgentRow", "ZoneLeaseRow", "ZoneWorkRow", "rows_changed"]
