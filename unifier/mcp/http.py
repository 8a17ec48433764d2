"""MCP over streamable HTTP: ``/mcp`` on unifier's own server, or a standalone app.

Stateless JSON mode: every POST is answered on its own, so any replica can serve any
request (no session affinity) and nothing is held open between calls.

Who calls comes from ``identify(request)``. On unifier's own server (:func:`mount_mcp`
with ``authenticate``) the bearer token is authenticated first, in a worker thread, as
for every API route (a refused one is 401 before any MCP message is read), and the
principal becomes the :class:`Agent` (:func:`agent_of_principal`): its name, and its
read scope as the agent's scope.
DNS-rebinding protection is on for loopback hosts: a web page in a browser cannot
reach a local unifier's /mcp through a hostile domain name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Send
from starlette.types import Scope as ASGIScope

from unifier.catalog import Catalog
from unifier.errors import UnifierError
from unifier.mcp.audit import CatalogAudit
from unifier.mcp.backend import Agent, ControlPlaneRequester
from unifier.mcp.local import LocalControlPlane
from unifier.mcp.scope import Scope
from unifier.mcp.server import GovernedMCPServer, Identify, MCPSettings, create_mcp_server

if TYPE_CHECKING:
    from fastapi import FastAPI

MCP_PATH = "/mcp"
Authenticate = Callable[[Request], Any]  # the request's principal (unifier.auth.Principal)
UNAUTHENTICATED = "anonymous"


PRINCIPAL_STATE = "unifier_principal"  # where the endpoint leaves the caller's principal


def unauthenticated(request: Request | None) -> Agent:
    return Agent(UNAUTHENTICATED)


def agent_of_principal(request: Request | None) -> Agent:
    """The agent a request's authenticated principal is: same name, its read scope (an
    ``agent`` token or a principal without read sees nothing), the principal itself."""
    principal = getattr(request.state, PRINCIPAL_STATE, None) if request is not None else None
    if principal is None:
        return Agent(UNAUTHENTICATED, Scope(()))
    return Agent(principal.name, Scope.of(principal.read_scope()), principal=principal)


def _server(catalog_factory: Callable[[], Catalog], identify: Identify | None, settings: MCPSettings | None,
            requester: ControlPlaneRequester | None) -> GovernedMCPServer:
    return create_mcp_server(LocalControlPlane(catalog_factory), identify=identify or unauthenticated,
                             audit=CatalogAudit(catalog_factory), requester=requester, settings=settings)


class StatelessMCPEndpoint:
    """The ASGI endpoint of ``/mcp``. Each request gets a short-lived session manager of
    its own, so the endpoint works whether or not the hosting server runs lifespan
    events (``unifier serve`` runs uvicorn with lifespan off) and holds no task group
    between requests."""

    def __init__(self, server: GovernedMCPServer, host: str = "127.0.0.1",
                 authenticate: Authenticate | None = None):
        self.server = server
        self.host = host
        self.authenticate = authenticate

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if self.authenticate is not None:
            try:  # a catalog query (and maybe the identity provider): never on the event loop
                principal = await run_in_threadpool(self.authenticate, Request(scope))
            except UnifierError as exc:
                from unifier.api.errors import answer

                await answer(exc)(scope, receive, send)
                return
            scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        app = self.server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True,
                                              json_response=True, host=self.host)
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)


def create_mcp_app(catalog_factory: Callable[[], Catalog], *, identify: Identify | None = None,
                   settings: MCPSettings | None = None, requester: ControlPlaneRequester | None = None,
                   host: str = "127.0.0.1") -> Starlette:
    """A standalone ASGI app serving MCP at ``/mcp``."""
    endpoint = StatelessMCPEndpoint(_server(catalog_factory, identify, settings, requester), host)
    return Starlette(routes=[Route(MCP_PATH, endpoint=endpoint)])


def mount_mcp(app: FastAPI, catalog_factory: Callable[[], Catalog], *, identify: Identify | None = None,
              settings: MCPSettings | None = None, requester: ControlPlaneRequester | None = None,
              host: str = "127.0.0.1", authenticate: Authenticate | None = None) -> None:
    """Serve MCP at ``/mcp`` on ``app``, next to the HTTP API (not in its OpenAPI).
    ``authenticate(request)`` returns the caller's principal (raising Unauthenticated)."""
    endpoint = StatelessMCPEndpoint(_server(catalog_factory, identify, settings, requester), host, authenticate)
    # a route, not a Mount: POST /mcp is answered without a redirect to /mcp/
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint))
