"""The MCP server: tools, a job resource and a prompt over the control plane.

:func:`create_mcp_server` builds one for a transport (stdio: ``unifier mcp``; HTTP:
:mod:`unifier.mcp.http`). What a client can call is decided here, not asked of it:

- read tools always (:mod:`unifier.mcp.read_tools`);
- write tools (requests) only when the server is not read-only *and* the control
  plane takes requests; with ``read_only`` they are not even listed;
- every tool call passes through :meth:`GovernedMCPServer.call_tool`, which records
  the agent, the tool, its arguments (secrets redacted) and the outcome in the audit,
  and turns errors into a clear message (never a stack trace).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request

from unifier.errors import NotFound, UnifierError
from unifier.mcp.audit import DENIED, FAILED, OK, AuditSink, ToolCall
from unifier.mcp.backend import Agent, ControlPlaneReader, ControlPlaneRequester
from unifier.mcp.limits import RateLimited, RateLimiter, RateLimitSettings
from unifier.mcp.paging import PagingError
from unifier.mcp.read_tools import ReadTools
from unifier.mcp.write_tools import WriteTools

log = logging.getLogger(__name__)

Identify = Callable[[Request | None], Agent]
"""Who calls: from the HTTP request (its bearer token, once authentication exists), or
from the process's own identity over stdio (``request`` is None)."""

INSTRUCTIONS = """\
unifier is one control plane over Airflow, Kubernetes, Terraform, Jenkins and cron.
Jobs are named by URI (KIND://INSTANCE/NATIVE_ID). Start with `status` or `search_jobs`;
`list_runs`, `get_run`, `why` and `get_logs` explain what happened; `next`, `impact` and
`graph` say what will happen. Listings are paged: pass `next_cursor` back as `cursor`.
Changes are only ever requests (`request_run` ...): a person approves them outside this
conversation; follow them with `get_request`."""


class MCPSettings(BaseModel):
    """How the MCP server behaves for every agent it serves."""

    read_only: bool = Field(default=False, description="list and serve read tools only: no request tool exists")
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings,
                                          description="per-agent limit on requests (the write tools)")


def request_of(ctx: Context | None) -> Request | None:
    """The HTTP request behind a tool call; None over stdio or outside a request."""
    if ctx is None:
        return None
    try:
        request = ctx.request_context.request
    except ValueError:  # "Context is not available outside of a request"
        return None
    return request if isinstance(request, Request) else None


class GovernedMCPServer(MCPServer[Any]):
    """An MCPServer whose every tool call is identified, audited and made safe to answer."""

    def __init__(self, identify: Identify, audit: AuditSink, **kwargs: Any):
        super().__init__(**kwargs)
        self._identify = identify
        self._audit = audit

    def agent(self, ctx: Context | None) -> Agent:
        return self._identify(request_of(ctx))

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        request = request_of(context)
        agent = self._identify(request)

        def audited(outcome: str, error: str | None = None) -> ToolCall:
            return ToolCall(agent, name, arguments, outcome, error, transport="stdio" if request is None else "http",
                            source=request.client.host if request is not None and request.client else None)

        try:
            result = await super().call_tool(name, arguments, context)
        except Exception as exc:
            outcome, message = _classify(name, exc)
            await self._audit.record(audited(outcome, message))
            raise ToolError(message) from None
        await self._audit.record(audited(OK))
        return result


def _classify(tool: str, exc: Exception) -> tuple[str, str]:
    """``(outcome, message for the agent)`` of a failed call."""
    cause = exc.__cause__ if isinstance(exc, ToolError) and exc.__cause__ is not None else exc
    if isinstance(cause, RateLimited):
        return DENIED, str(cause)
    if isinstance(cause, ValidationError):
        return FAILED, str(exc)  # the SDK's message: the arguments do not match the tool's schema
    if isinstance(cause, NotFound | PagingError | UnifierError | ValueError):
        return FAILED, str(cause)
    if isinstance(exc, ToolError) and exc.__cause__ is None:
        return FAILED, str(exc)  # unknown tool
    log.error("MCP tool %s failed unexpectedly", tool, exc_info=cause)
    return FAILED, f"{tool} failed inside unifier (the error is in the server's log)"


def create_mcp_server(reader: ControlPlaneReader, *, identify: Identify, audit: AuditSink,
                      requester: ControlPlaneRequester | None = None,
                      settings: MCPSettings | None = None) -> GovernedMCPServer:
    settings = settings or MCPSettings()
    server = GovernedMCPServer(identify, audit, name="unifier", instructions=INSTRUCTIONS,
                               warn_on_duplicate_tools=True, log_level="WARNING")
    ReadTools(reader, server.agent).register(server)
    if requester is not None and not settings.read_only:
        WriteTools(requester, server.agent, RateLimiter(settings.rate_limit)).register(server)
    _add_job_resource(server, reader)
    _add_prompts(server)
    return server


def _add_job_resource(server: GovernedMCPServer, reader: ControlPlaneReader) -> None:
    @server.resource("unifier://job/{+uri}", name="job", mime_type="application/json",
                     description="A job's page: its definition, recent runs and the triggers into and out of it. "
                                 "uri is the job URI, e.g. unifier://job/cron://hosts/backup")
    async def job_page(uri: str, ctx: Context) -> str:
        try:
            page = await reader.job_page(server.agent(ctx), uri)
        except NotFound as exc:
            raise ResourceNotFoundError(str(exc)) from None
        return json.dumps(page, indent=1)


def _add_prompts(server: GovernedMCPServer) -> None:
    @server.prompt(name="investigate_failure", description="Find out why a job failed and what to do next")
    def investigate_failure(job: str) -> str:
        return (f"Investigate the latest failure of {job}.\n"
                f"1. `list_runs` with job={job!r} and states=['failed'] to find the failed run.\n"
                "2. `why` on that run: was it scheduled, started by hand, or triggered by an upstream run?\n"
                "3. `get_logs` on it (and on a failed upstream run, if `why` names one).\n"
                "4. `instances` to rule out a tool that is down or stale.\n"
                "Explain the cause in two or three sentences. If a re-run is warranted, say so and, "
                "only if asked, use `request_run` with a reason; a person approves it. "
                "Never say that it ran until `get_request` shows its run.")
