"""``GET /api/leader``: which replica of ``unifier run`` leads the control loop.

Every replica serves it alike (it reads the catalog's leader row): ``replica``,
``epoch``, ``since`` (when it took the lead) and ``heartbeat`` (its last renewal), or
``null`` when no replica has led yet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from unifier.api.deps import ServiceDep

router = APIRouter(prefix="/api", tags=["leader"])


@router.get("/leader")
def leader(service: ServiceDep) -> dict[str, Any] | None:
    """The leading replica (a plain ``def``: FastAPI runs it in a worker thread)."""
    info = service.leader()
    return info.as_dict() if info else None
