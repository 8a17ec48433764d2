"""Read-only views of triggers and the firing ledger."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from unifier.api.deps import CatalogDep
from unifier.triggers.store import (
    Firing,
    StoredTrigger,
    get_trigger,
    list_firings,
    list_triggers,
)

router = APIRouter(prefix="/api", tags=["triggers"])


def trigger_view(t: StoredTrigger) -> dict[str, Any]:
    return {"name": t.name, "paused": t.paused, "paused_reason": t.paused_reason,
            "source": t.source, "upstream": t.upstream_jobs, "downstream": t.downstream_jobs,
            "spec": t.spec.model_dump(mode="json", by_alias=True)}


def firing_view(f: Firing) -> dict[str, Any]:
    return {"id": f.id, "trigger": f.trigger, "status": f.status, "error": f.error,
            "attempts": f.attempts, "created_at": f.created_at.isoformat(),
            "updated_at": f.updated_at.isoformat(),
            "upstream_runs": [k.model_dump() for k in f.upstream_runs],
            "actions": [a.as_dict() for a in f.actions]}


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/triggers")
def triggers(catalog: CatalogDep) -> list[dict[str, Any]]:
    return [trigger_view(t) for t in list_triggers(catalog)]


@router.get("/triggers/{name}")
def trigger(name: str, catalog: CatalogDep) -> dict[str, Any]:
    return trigger_view(get_trigger(catalog, name))


@router.get("/firings")
def firings(catalog: CatalogDep, trigger: str | None = None, status: str | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    return [firing_view(f) for f in list_firings(catalog, trigger, status=status, limit=limit)]
