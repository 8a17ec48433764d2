"""MCP over streamable HTTP: ``/mcp`` on unifier's own server, or a standalone app.

Stateless JSON mode: every POST is answered on its own, so any replica can serve any
request (no session affinity) and nothing is held open between calls.

Who calls comes from ``identify(request)``. Until authentication exists on the server
every HTTP caller is the unauthenticated local user (the server then only runs open on
a loopback address); the governance layer passes the bearer token's principal instead.
DNS-rebinding protection is on for loopback hosts: a web page in a browser cannot
reach a local unifier's /mcp through a hostile domain name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from unifier.catalog import Catalog
from unifier.mcp.audit import CatalogAudit
from unifier.mcp.backend import Agent, ControlPlaneRequester
from unifier.mcp.local import LocalControlPlane
from unifier.mcp.server import GovernedMCPServer, Identify, MCPSettings, create_mcp_server

if TYPE_CHECKING:
    from fastapi import FastAPI

MCP_PATH = "/mcp"
UNAUTHENTICATED = "anonymous"


def unauthenticated(request: Request | None) -> Agent:
    return Agent(UNAUTHENTICATED)


def _server(catalog_factory: Callable[[], Catalog], identify: Identify | None, settings: MCPSettings | None,
            requester: ControlPlaneRequester | None) -> GovernedMCPServer:
    return create_mcp_server(LocalControlPlane(catalog_factory), identify=identify or unauthenticated,
                             audit=CatalogAudit(catalog_factory), requester=requester, settings=settings)


class StatelessMCPEndpoint:
    """The ASGI endpoint of ``/mcp``. Each request gets a short-lived session manager of
    its own, so the endpoint works whether or not the hosting server runs lifespan
    events (``unifier serve`` runs uvicorn with lifespan off) and holds no task group
    between requests."""

    def __init__(self, server: GovernedMCPServer, host: str = "127.0.0.1"):
        self.server = server
        self.host = host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
              host: str = "127.0.0.1") -> None:
    """Serve MCP at ``/mcp`` on ``app``, next to the HTTP API (not in its OpenAPI)."""
    endpoint = StatelessMCPEndpoint(_server(catalog_factory, identify, settings, requester), host)
    # a route, not a Mount: POST /mcp is answered without a redirect to /mcp/
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint))
