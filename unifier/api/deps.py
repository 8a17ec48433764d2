"""Dependencies shared by the routes: the catalog, the caller's principal, the service
acting as that principal, and the control loop's wake-up call.

:func:`get_principal` is a plain ``def``: FastAPI runs it in its thread pool, so the
token lookup (a catalog query) never runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from unifier.auth.principal import Principal
from unifier.catalog import Catalog
from unifier.service import Service

WakeFn = Callable[[str], None]
MAX_ID = 2**62  # ids are 64-bit in every catalog database: larger is bad input, not a crash


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog_factory()


def get_wake(request: Request) -> WakeFn:
    return request.app.state.wake


def get_principal(request: Request) -> Principal:
    """Who is calling (401 when nobody valid; see :mod:`unifier.api.security`)."""
    return request.app.state.security.principal(request)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def get_service(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Service:
    return Service(get_catalog(request), principal, source=client_address(request))


def require_reader(service: Annotated[Service, Depends(get_service)]) -> None:
    """Routes outside the service's reads (``/metrics``) that any reading principal may see."""
    from unifier.auth.roles import Permission

    service.require(Permission.READ)


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
WakeDep = Annotated[WakeFn, Depends(get_wake)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
ServiceDep = Annotated[Service, Depends(get_service)]
