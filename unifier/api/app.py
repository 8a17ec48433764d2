"""Building the application.

Every route but ``GET /healthz``, the dashboard's static page and scripts (no data in
them) and the webhooks (which carry their own secret) sits
behind :class:`~unifier.api.security.ApiSecurity` through the service dependency;
errors map to statuses in :mod:`unifier.api.errors`; bodies over ``max_body`` are 413.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from unifier.api import act_routes, admin_routes, agent, apidocs, dashboard, details, errors, hooks, leader, views
from unifier.api.deps import WakeFn, get_principal, require_reader
from unifier.api.security import ApiSecurity
from unifier.auth.approvals import waiting_count
from unifier.auth.authenticate import TokenVerifier
from unifier.catalog import Catalog
from unifier.mcp.http import agent_of_principal, mount_mcp
from unifier.mcp.requests import ServiceRequester
from unifier.metrics import UnifierMetrics

MAX_BODY = 4 * 1024 * 1024  # configuration files for apply are the largest bodies


def _ignore(instance: str) -> None:
    """Without a control loop (``unifier serve``) a webhook has nothing to wake."""


def create_app(catalog_factory: Callable[[], Catalog], *, wake: WakeFn | None = None,
               oidc: TokenVerifier | None = None, allow_open: bool = True,
               max_body: int = MAX_BODY, metrics: UnifierMetrics | None = None) -> FastAPI:
    """``catalog_factory`` returns the catalog a request uses; ``wake(instance)`` asks the
    control loop to sync that instance now; ``oidc`` verifies JWTs when configured;
    ``allow_open`` lets a server without any authentication configured answer everyone
    (only ever true on loopback: see :func:`unifier.api.security.check_listen`);
    ``metrics`` are the process's (the control loop beside the API records into them),
    served at ``GET /metrics`` to any principal that reads (viewer and up)."""
    # the OpenAPI document and its viewer sit behind authentication like every route
    # (FastAPI's own /docs loads from a CDN: apidocs serves /docs offline)
    app = FastAPI(title="unifier", version="1", summary="One control plane over the schedulers you already run",
                  openapi_url=None, docs_url=None, redoc_url=None)
    app.state.catalog_factory = catalog_factory
    app.state.wake = wake or _ignore
    app.state.security = ApiSecurity(catalog_factory, oidc=oidc, allow_open=allow_open)
    authenticated = [Depends(get_principal)]

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness, without authentication."""
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False, dependencies=authenticated)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    app.include_router(hooks.router)
    # the dashboard's page and scripts hold no data (it asks /api with the token the user
    # signs in with), so a browser can load them, and the sign-in form, without a token
    app.include_router(dashboard.router)
    # before views: /api/runs/{job}/{run_id}/why is not a run id "why"
    app.include_router(details.router, dependencies=authenticated)
    app.include_router(views.router, dependencies=authenticated)
    app.include_router(act_routes.router, dependencies=authenticated)
    app.include_router(admin_routes.router, dependencies=authenticated)
    # MCP for AI agents at /mcp (streamable HTTP): the bearer's principal is the agent;
    # its writes are approval requests a person decides
    mount_mcp(app, catalog_factory, authenticate=app.state.security.principal, identify=agent_of_principal,
              requester=ServiceRequester(catalog_factory))
    app.include_router(apidocs.router, dependencies=authenticated)
    app.include_router(agent.router)  # zone agents and /api/zones
    app.include_router(leader.router, dependencies=authenticated)
    if metrics is None:
        metrics = UnifierMetrics(catalog_factory, approvals_waiting=lambda: waiting_count(catalog_factory()))
    app.state.metrics = metrics
    metrics.install(app, dependencies=[Depends(require_reader)])
    errors.install(app)
    app.add_middleware(errors.BodyLimit, limit=max_body)
    return app
