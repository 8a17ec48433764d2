"""Routes for zone agents (``/api/agent/...``) and the zones view (``/api/zones``).

An agent only ever calls in: it fetches its zone's instance specs, pulls work (a long
poll that waits on the queue off the event loop), acknowledges what it stored, and
pushes its outbox. Every agent route takes the caller from :func:`agent_identity`,
the one place that decides which zone a caller may serve: the zone of its ``agent``
token (a role that can do nothing else).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from unifier.api.deps import CatalogDep, PrincipalDep, ServiceDep, WakeDep
from unifier.auth.roles import Permission
from unifier.errors import Forbidden, Unauthenticated
from unifier.zones import lease, queue
from unifier.zones.identity import (
    AGENT_ID_HEADER,
    AGENT_NAME_HEADER,
    AGENT_VERSION_HEADER,
    ZONE_HEADER,
    AgentIdentity,
    parse_identity,
)
from unifier.zones.ingest import ingest
from unifier.zones.settings import ZoneSettings
from unifier.zones.status import ZoneRow, zone_rows
from unifier.zones.wire import (
    AckAnswer,
    AckRequest,
    InstanceWire,
    OutboxAnswer,
    OutboxBatch,
    PullAnswer,
    PullRequest,
    WorkWire,
)


def agent_identity(
    principal: PrincipalDep,
    zone: Annotated[str | None, Header(alias=ZONE_HEADER)] = None,
    agent_id: Annotated[str | None, Header(alias=AGENT_ID_HEADER)] = None,
    name: Annotated[str | None, Header(alias=AGENT_NAME_HEADER)] = None,
    version: Annotated[str | None, Header(alias=AGENT_VERSION_HEADER)] = None,
) -> AgentIdentity:
    """The calling agent and the one zone it may serve: the zone of its token
    (``unifier token create NAME --role agent --zone ZONE``), never the request's word.

    The ``X-Unifier-Zone`` header only names the zone an admin serves (an admin may
    serve any; so may everyone on an open loopback server); an agent token's header, if
    sent, must name the token's own zone."""
    served = principal.agent_zones()
    if served:
        if zone is not None and zone not in served:
            raise Forbidden(f"{principal.name} serves zone {served[0]!r}, not {zone!r}",
                            permission=Permission.SERVE_ZONE.value)
        zone = zone or served[0]
    elif not principal.can_everywhere(Permission.SERVE_ZONE):
        raise Forbidden(f"{principal.name} lacks permission 'serve_zone': agents need a token made with "
                        "`unifier token create NAME --role agent --zone ZONE`",
                        permission=Permission.SERVE_ZONE.value)
    found = parse_identity(zone, agent_id, name, version)
    if isinstance(found, str):
        raise Unauthenticated(found)
    return found


AgentDep = Annotated[AgentIdentity, Depends(agent_identity)]


def zone_settings(request: Request) -> ZoneSettings:
    settings = getattr(request.app.state, "zone_settings", None)
    if settings is None:
        settings = request.app.state.zone_settings = ZoneSettings.from_env()
    return settings


SettingsDep = Annotated[ZoneSettings, Depends(zone_settings)]

router = APIRouter(prefix="/api")


@router.get("/zones", tags=["zones"])
def zones(service: ServiceDep, settings: SettingsDep) -> list[ZoneRow]:
    """Each zone: its active agent, version, last contact, and the work waiting for it."""
    service.require(Permission.READ)
    return zone_rows(service.catalog, lease_seconds=settings.lease_seconds)


@router.get("/agent/instances", tags=["agent"])
def agent_instances(agent: AgentDep, catalog: CatalogDep, settings: SettingsDep) -> list[InstanceWire]:
    """The zone's instances as written: secret references stay references."""
    lease.contact(catalog, agent, settings.lease_seconds)
    return [InstanceWire(name=s.instance.name, adapter=s.instance.kind, spec=s.spec, spec_hash=s.spec_hash)
            for s in catalog.list_instances() if s.spec.get("zone") == agent.zone]


@router.post("/agent/pull", tags=["agent"])
async def agent_pull(body: PullRequest, agent: AgentDep, catalog: CatalogDep,
                     settings: SettingsDep) -> PullAnswer:
    """Work for the zone's active agent; waits up to ``wait`` seconds for some."""
    began = time.monotonic()
    deadline = began + min(body.wait, settings.long_poll_seconds)
    # the lease is renewed (a write) about once a second while waiting; looking for work
    # in between only reads
    renew_every = min(1.0, settings.lease_seconds / 3)
    renewed_at = -renew_every
    while True:
        now = time.monotonic()
        if now - renewed_at >= renew_every:
            held = await asyncio.to_thread(lease.contact, catalog, agent, settings.lease_seconds)
            renewed_at = now
        else:
            held = replace(held, taken=False)
        work = await asyncio.to_thread(queue.claim, catalog, held, limit=body.limit,
                                       redeliver_seconds=settings.redeliver_seconds)
        if work or not held.active or held.taken or now >= deadline:
            acked_seq = await asyncio.to_thread(lease.acked_seq, catalog, agent.agent_id)
            return PullAnswer(active=held.active, generation=held.generation, holder=held.agent_id,
                              acked_seq=acked_seq, work=[WorkWire(**w.wire()) for w in work])
        await asyncio.sleep(settings.check_interval_seconds)


@router.post("/agent/ack", tags=["agent"])
def agent_ack(body: AckRequest, agent: AgentDep, catalog: CatalogDep, settings: SettingsDep) -> AckAnswer:
    """The agent has stored these work items; they are not handed out again while it
    holds the lease."""
    held = lease.contact(catalog, agent, settings.lease_seconds)
    return AckAnswer(acked=queue.ack(catalog, held, body.ids))


@router.post("/agent/outbox", tags=["agent"], response_model=OutboxAnswer,
             responses={409: {"description": "a gap in the sequence"}})
def agent_outbox(body: OutboxBatch, agent: AgentDep, catalog: CatalogDep, settings: SettingsDep,
                 wake: WakeDep) -> OutboxAnswer | JSONResponse:
    """Observations and answers from the agent, applied in sequence order exactly once."""
    lease.contact(catalog, agent, settings.lease_seconds)
    report = ingest(catalog, agent, body.messages)
    for instance in sorted(report.instances):
        wake(instance)  # new runs: let the control loop evaluate triggers now
    answer = OutboxAnswer(acked_seq=report.acked_seq, refused=report.refused)
    if report.gap_at is not None:
        return JSONResponse(status_code=409, content={
            "detail": f"outbox gap: expected message {report.gap_at} next", **answer.model_dump()})
    return answer

