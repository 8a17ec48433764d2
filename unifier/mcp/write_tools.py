"""The write tools: every one a *request* that a person decides outside the agent's
channel. None of them approves anything, and no tool here can.

They are registered only when the server is not ``--read-only`` and the control plane
takes requests (:class:`ControlPlaneRequester`); each request first takes a token
from the agent's rate-limit bucket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from unifier.mcp.backend import Agent, ControlPlaneRequester
from unifier.mcp.limits import RateLimiter
from unifier.mcp.read_tools import READ_ONLY, JobUri, RunId

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.server.mcpserver import MCPServer

# a run, a cancel or a pause changes what tools do: destructive, and not idempotent
# (two requests are two requests)
REQUEST = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                          open_world_hint=True)
WRITE_TOOL_NAMES = ("request_run", "request_cancel", "request_pause_trigger")

Reason = Annotated[str, Field(min_length=1, max_length=2000,
                              description="why: shown to the person who approves or rejects the request")]


class WriteTools:
    def __init__(self, requester: ControlPlaneRequester, identify: Callable[[Context], Agent],
                 limiter: RateLimiter):
        self.requester = requester
        self.identify = identify
        self.limiter = limiter

    def register(self, server: MCPServer[Any]) -> None:
        for tool in (self.request_run, self.request_cancel, self.request_pause_trigger):
            server.add_tool(tool, annotations=REQUEST, structured_output=False)
        server.add_tool(self.get_request, annotations=READ_ONLY, structured_output=False)

    def _admit(self, ctx: Context) -> Agent:
        agent = self.identify(ctx)
        self.limiter.acquire(agent.name)
        return agent

    async def request_run(self, ctx: Context, job: JobUri, reason: Reason,
                          params: Annotated[dict[str, str | int | float | bool] | None, Field(
                              description="run parameters, KEY: value")] = None) -> dict[str, Any]:
        """Ask for a run of a job. A person approves or rejects it outside this conversation;
        answers the request's id and state (follow it with get_request)."""
        return await self.requester.request_run(self._admit(ctx), job, dict(params or {}), reason)

    async def request_cancel(self, ctx: Context, job: JobUri, run_id: RunId, reason: Reason) -> dict[str, Any]:
        """Ask for a running run to be cancelled; decided by a person, like every request."""
        return await self.requester.request_cancel(self._admit(ctx), job, run_id, reason)

    async def request_pause_trigger(self, ctx: Context, trigger: Annotated[str, Field(
                                        description="the trigger's name (see graph)")],
                                    reason: Reason) -> dict[str, Any]:
        """Ask for a trigger to be paused; decided by a person, like every request."""
        return await self.requester.request_pause_trigger(self._admit(ctx), trigger, reason)

    async def get_request(self, ctx: Context, request_id: Annotated[str, Field(
                              description="the id a request_* tool answered")]) -> dict[str, Any]:
        """A request's state (awaiting_approval, approved, rejected, expired) and, once it
        started, its run."""
        return await self.requester.get_request(self.identify(ctx), request_id)
