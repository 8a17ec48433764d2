"""Building the application."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from unifier.api import hooks, leader, views
from unifier.api.deps import WakeFn
from unifier.catalog import Catalog
from unifier.errors import NotFound, UnifierError


def _ignore(instance: str) -> None:
    """Without a control loop (``unifier serve``) a webhook has nothing to wake."""


def create_app(catalog_factory: Callable[[], Catalog], *, wake: WakeFn | None = None) -> FastAPI:
    """``catalog_factory`` returns the catalog a request uses; ``wake(instance)`` asks the
    control loop to sync that instance now."""
    app = FastAPI(title="unifier", version="1", summary="One control plane over the schedulers you already run")
    app.state.catalog_factory = catalog_factory
    app.state.wake = wake or _ignore
    app.include_router(hooks.router)
    app.include_router(views.router)
    app.include_router(leader.router)

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UnifierError)
    async def _failed(_request: Request, exc: UnifierError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=502)

    return app
