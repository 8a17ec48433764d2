"""Read-only views under ``/api``: the same rows, with the same field names, as the
CLI's ``-o json`` (``unifier status|jobs|runs|instances|graph|triggers|firings``).

A job URI holds ``://``, so it goes in the path as it is (``/api/jobs/cron://hosts/backup``)
or percent-encoded. A run is ``/api/runs/{JOB_URI}/{RUN_ID}``: the last path segment is the
run id; a run id that itself holds ``/`` is asked for as ``/api/run?job=...&run_id=...``.

:data:`router` also carries the event stream (:mod:`unifier.api.events`) and the
dashboard (:mod:`unifier.api.dashboard`), so the application includes one router.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status

from unifier.api import dashboard, events
from unifier.api.deps import CatalogDep
from unifier.duration import parse_duration
from unifier.model import RunState, utcnow
from unifier.plan import stored_triggers
from unifier.status import InstanceRow, instance_rows, status_rows
from unifier.triggers.graph import TriggerGraph
from unifier.triggers.graph_formats import to_json
from unifier.triggers.store import (
    Firing,
    StoredTrigger,
    get_trigger,
    list_firings,
    list_triggers,
)

api = APIRouter(prefix="/api", tags=["views"])


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


def _window(since: str | None) -> timedelta | None:
    try:
        return parse_duration(since) if since else None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"since: {exc}") from None


@api.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@api.get("/status")
def status_view(catalog: CatalogDep) -> list[dict[str, Any]]:
    """One row per job across every tool: its last run and its next scheduled time."""
    return [r.model_dump(mode="json") for r in status_rows(catalog)]


@api.get("/jobs")
def jobs(catalog: CatalogDep, instance: str | None = None) -> list[dict[str, Any]]:
    return [j.model_dump(mode="json") for j in catalog.list_jobs(instance)]


@api.get("/jobs/{uri:path}")
def job(uri: str, catalog: CatalogDep) -> dict[str, Any]:
    return catalog.get_job(uri).model_dump(mode="json")


@api.get("/runs")
def runs(catalog: CatalogDep, job: str | None = None, instance: str | None = None,
         state: list[RunState] | None = Query(default=None, description="repeatable"),
         since: str | None = Query(default=None, description="only runs active within this long, e.g. 24h"),
         limit: int = Query(default=100, ge=1, le=10000)) -> list[dict[str, Any]]:
    """Runs across every tool, newest first."""
    window = _window(since)
    found = catalog.list_runs(job=job, instance=instance, states=state,
                              since=utcnow() - window if window else None, limit=limit)
    return [r.model_dump(mode="json") for r in found]


@api.get("/run")
def run_by_query(job: str, run_id: str, catalog: CatalogDep) -> dict[str, Any]:
    """One run, for run ids holding ``/``."""
    return catalog.get_run(job, run_id).model_dump(mode="json")


@api.get("/runs/{job:path}/{run_id}")
def run(job: str, run_id: str, catalog: CatalogDep) -> dict[str, Any]:
    return catalog.get_run(job, run_id).model_dump(mode="json")


@api.get("/instances")
def instances(catalog: CatalogDep) -> list[InstanceRow]:
    return instance_rows(catalog)


@api.get("/graph")
def graph(catalog: CatalogDep) -> dict[str, Any]:
    """The cross-tool dependency graph of the stored triggers (``unifier graph -o json``)."""
    known = {j.uri for j in catalog.list_jobs()}
    return to_json(TriggerGraph(stored_triggers(catalog)), known)


@api.get("/triggers")
def triggers(catalog: CatalogDep) -> list[dict[str, Any]]:
    return [trigger_view(t) for t in list_triggers(catalog)]


@api.get("/triggers/{name}")
def trigger(name: str, catalog: CatalogDep) -> dict[str, Any]:
    return trigger_view(get_trigger(catalog, name))


@api.get("/firings")
def firings(catalog: CatalogDep, trigger: str | None = None, status: str | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    return [firing_view(f) for f in list_firings(catalog, trigger, status=status, limit=limit)]


router = APIRouter()
router.include_router(api)
router.include_router(events.router)
router.include_router(dashboard.router)
