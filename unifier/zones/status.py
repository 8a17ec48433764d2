"""Each zone and its agents: who is active, since when we heard from it, what waits."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select

from unifier.catalog import Catalog
from unifier.model import as_utc, utcnow
from unifier.zones import queue
from unifier.zones.tables import ZoneAgentRow, ZoneLeaseRow


class ZoneRow(BaseModel):
    zone: str
    agent: str | None = Field(description="name of the active agent (the lease holder)")
    agent_id: str | None
    version: str | None = Field(description="the active agent's unifier version")
    last_contact_at: datetime | None = Field(description="the active agent's last request")
    lease_expired: bool = Field(description="the active agent has been silent past the lease")
    backlog: int = Field(description="work queued for the zone and not yet answered")
    oldest_waiting_seconds: float | None = Field(description="age of the oldest unanswered work")
    instances: list[str]
    standby: list[str] = Field(description="names of the zone's other agents")


def zone_rows(catalog: Catalog, *, lease_seconds: float) -> list[ZoneRow]:
    now = utcnow()
    by_zone: dict[str, list[str]] = {}
    for stored in catalog.list_instances():
        zone = stored.spec.get("zone")
        if zone:
            by_zone.setdefault(zone, []).append(stored.instance.name)
    with catalog.session() as s:
        agents = list(s.scalars(select(ZoneAgentRow).order_by(ZoneAgentRow.name)))
        leases = {r.zone: r for r in s.scalars(select(ZoneLeaseRow))}
    backlogs = queue.backlogs(catalog)
    zones = sorted(set(by_zone) | {a.zone for a in agents} | set(leases) | set(backlogs))
    rows = []
    for zone in zones:
        lease = leases.get(zone)
        active = next((a for a in agents if lease and a.agent_id == lease.agent_id), None)
        contact = as_utc(active.last_contact_at) if active else None
        backlog = backlogs.get(zone)
        rows.append(ZoneRow(
            zone=zone, agent=active.name if active else None,
            agent_id=active.agent_id if active else None,
            version=active.version if active else None, last_contact_at=contact,
            lease_expired=contact is None or (now - contact).total_seconds() > lease_seconds,
            backlog=backlog.waiting if backlog else 0,
            oldest_waiting_seconds=(round((now - backlog.oldest_at).total_seconds(), 3)
                                    if backlog and backlog.oldest_at else None),
            instances=sorted(by_zone.get(zone, [])),
            standby=[a.name for a in agents if a.zone == zone and a is not active],
        ))
    return rows
