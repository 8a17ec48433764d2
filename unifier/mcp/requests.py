"""The write tools over the governed service layer: each request an approval request
in the ledger (:mod:`unifier.auth.approvals`), authorised and audited as the agent's
principal by :class:`~unifier.service.Service`, and decided by a person with the
approve permission (``unifier approve``), never by the agent (four eyes: the requester
cannot decide its own request, and no MCP tool approves).

A run request, once approved, is issued by the ledger's ordinary exactly-once firing;
a cancel or pause request is carried out by the approval itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from unifier.catalog import Catalog
from unifier.errors import Forbidden
from unifier.mcp.backend import JSON, Agent


class ServiceRequester:
    """:class:`~unifier.mcp.backend.ControlPlaneRequester` over the service layer; the
    agent's principal comes from its bearer token (:func:`unifier.mcp.http.mount_mcp`)."""

    def __init__(self, catalog_factory: Callable[[], Catalog]):
        self.catalog_factory = catalog_factory

    def _service(self, agent: Agent) -> Any:
        from unifier.service import Service

        if agent.principal is None:
            raise Forbidden("requests need an authenticated caller", permission="trigger")
        return Service(self.catalog_factory(), agent.principal, source="mcp")

    async def request_run(self, agent: Agent, job: str, params: dict[str, Any], reason: str) -> JSON:
        request = await asyncio.to_thread(self._service(agent).request_run, job, params, _reason(agent, reason))
        return _answer(request.to_json())

    async def request_cancel(self, agent: Agent, job: str, run_id: str, reason: str) -> JSON:
        request = await asyncio.to_thread(self._service(agent).request_cancel, job, run_id, _reason(agent, reason))
        return _answer(request.to_json())

    async def request_pause_trigger(self, agent: Agent, trigger: str, reason: str) -> JSON:
        request = await asyncio.to_thread(self._service(agent).request_pause, trigger, _reason(agent, reason))
        return _answer(request.to_json())

    async def get_request(self, agent: Agent, request_id: str) -> JSON:
        return _answer(await asyncio.to_thread(self._service(agent).request_state, request_id))


def _reason(agent: Agent, reason: str) -> str:
    return f"{reason} (acting for {agent.acting_for})" if agent.acting_for else reason


def _answer(request: JSON) -> JSON:
    return {**request, "next": "a person approves or rejects this request outside this conversation "
                               "(`unifier approve ID`); follow it with get_request"}
