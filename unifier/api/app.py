"""Building the application."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from unifier.api import agent, apidocs, details, hooks, leader, views
from unifier.api.deps import WakeFn
from unifier.catalog import Catalog
from unifier.errors import NotFound, UnifierError
from unifier.mcp.http import mount_mcp


def _ignore(instance: str) -> None:
    """Without a control loop (``unifier serve``) a webhook has nothing to wake."""


def create_app(catalog_factory: Callable[[], Catalog], *, wake: WakeFn | None = None) -> FastAPI:
    """``catalog_factory`` returns the catalog a request uses; ``wake(instance)`` asks the
    control loop to sync that instance now."""
    app = FastAPI(title="unifier", version="1", summary="One control plane over the schedulers you already run",
                  docs_url=None, redoc_url=None)  # FastAPI's pages load from a CDN: apidocs serves /docs offline
    app.state.catalog_factory = catalog_factory
    app.state.wake = wake or _ignore
    app.include_router(hooks.router)
    app.include_router(details.router)  # before views: /api/runs/{job}/{run_id}/why is not a run id "why"
    app.include_router(views.router)
    mount_mcp(app, catalog_factory)  # MCP for AI agents at /mcp (streamable HTTP)
    app.include_router(apidocs.router)
    app.include_router(agent.router)  # zone agents and /api/zones
    app.include_router(leader.router)

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UnifierError)
    async def _failed(_request: Request, exc: UnifierError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=502)

    return app
