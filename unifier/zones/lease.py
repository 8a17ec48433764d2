"""One active agent per zone: a lease row renewed by every contact of its holder.

Any agent of the zone may take the lease once its holder has been silent for
``lease_seconds``; taking it over raises the generation, which hands the old holder's
unfinished work to the new one (:mod:`unifier.zones.queue`). The update is a
compare-and-set, so two agents racing for an expired lease cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from unifier.catalog import Catalog
from unifier.model import as_utc, utcnow
from unifier.zones.identity import AgentIdentity
from unifier.zones.tables import ZoneAgentRow, ZoneLeaseRow, rows_changed


@dataclass(frozen=True)
class Lease:
    zone: str
    agent_id: str
    generation: int
    active: bool  # held by the agent that asked
    taken: bool = False  # acquired by this very contact: the agent must hear it at once


def touch_agent(session: Session, agent: AgentIdentity, now: datetime) -> ZoneAgentRow:
    """Record the contact: the agent's name, version and last contact time."""
    row = session.get(ZoneAgentRow, agent.agent_id)
    if row is None:
        row = ZoneAgentRow(agent_id=agent.agent_id, zone=agent.zone, name=agent.name,
                           version=agent.version, last_seq=0, first_contact_at=now,
                           last_contact_at=now)
        session.add(row)
        session.flush()
    else:
        row.zone, row.name, row.version, row.last_contact_at = agent.zone, agent.name, agent.version, now
    return row


def contact(catalog: Catalog, agent: AgentIdentity, lease_seconds: float) -> Lease:
    """An agent got in touch: note it, and renew or take its zone's lease if it may."""
    now = utcnow()
    for _ in range(2):  # a lost insert race is retried once as an update
        try:
            with catalog.session() as s:
                touch_agent(s, agent, now)
                return _renew_or_take(s, agent, now, lease_seconds)
        except IntegrityError:
            continue
    return current(catalog, agent.zone, agent.agent_id)


def _renew_or_take(s: Session, agent: AgentIdentity, now: datetime, lease_seconds: float) -> Lease:
    row = s.get(ZoneLeaseRow, agent.zone)
    if row is None:
        s.add(ZoneLeaseRow(zone=agent.zone, agent_id=agent.agent_id, generation=1,
                           acquired_at=now, renewed_at=now))
        s.flush()
        return Lease(agent.zone, agent.agent_id, 1, True, taken=True)
    if row.agent_id == agent.agent_id:
        s.execute(update(ZoneLeaseRow).where(ZoneLeaseRow.zone == agent.zone,
                                             ZoneLeaseRow.agent_id == agent.agent_id)
                  .values(renewed_at=now).execution_options(synchronize_session=False))
        return Lease(agent.zone, agent.agent_id, row.generation, True)
    expired_before = now - timedelta(seconds=lease_seconds)
    taken = s.execute(
        update(ZoneLeaseRow)
        .where(ZoneLeaseRow.zone == agent.zone, ZoneLeaseRow.generation == row.generation,
               or_(ZoneLeaseRow.renewed_at < expired_before))
        .values(agent_id=agent.agent_id, generation=row.generation + 1, acquired_at=now,
                renewed_at=now).execution_options(synchronize_session=False))
    if rows_changed(taken) == 1:
        return Lease(agent.zone, agent.agent_id, row.generation + 1, True, taken=True)
    return Lease(agent.zone, row.agent_id, row.generation, False)


def silent_since(catalog: Catalog, zone: str, lease_seconds: float) -> datetime | None:
    """None while the zone's active agent is in contact; else its last contact (the
    epoch when no agent ever called)."""
    with catalog.session() as s:
        row = s.get(ZoneLeaseRow, zone)
        last = as_utc(row.renewed_at) if row else datetime.fromtimestamp(0, tz=UTC)
    return None if utcnow() - last <= timedelta(seconds=lease_seconds) else last


def current(catalog: Catalog, zone: str, agent_id: str | None = None) -> Lease:
    with catalog.session() as s:
        row = s.scalar(select(ZoneLeaseRow).where(ZoneLeaseRow.zone == zone))
        if row is None:
            return Lease(zone, "", 0, False)
        return Lease(zone, row.agent_id, row.generation, row.agent_id == agent_id)


def acked_seq(catalog: Catalog, agent_id: str) -> int:
    """The highest outbox sequence number applied from this agent (0: none yet)."""
    with catalog.session() as s:
        row = s.get(ZoneAgentRow, agent_id)
        return row.last_seq if row else 0
