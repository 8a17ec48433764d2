"""Dependencies shared by the routes: the catalog and the control loop's wake-up call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from unifier.catalog import Catalog

WakeFn = Callable[[str], None]


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog_factory()


def get_wake(request: Request) -> WakeFn:
    return request.app.state.wake


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
WakeDep = Annotated[WakeFn, Depends(get_wake)]
