"""``GET /api/leader``: which replica of ``unifier run`` leads the control loop.

Every replica serves it alike (it reads the catalog's leader row): ``replica``,
``epoch``, ``since`` (when it took the lead) and ``heartbeat`` (its last renewal), or
``null`` when no replica has led yet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from unifier.api.deps import CatalogDep
from unifier.leader import current_leader

router = APIRouter(prefix="/api", tags=["leader"])


@router.get("/leader")
def leader(catalog: CatalogDep) -> dict[str, Any] | None:
    """The leading replica (a plain ``def``: FastAPI runs it in a worker thread)."""
    info = current_leader(catalog)
    return info.as_dict() if info else None
