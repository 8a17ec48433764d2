"""Read-only views under ``/api``: the same rows, with the same field names, as the
CLI's ``-o json`` (``unifier status|jobs|runs|instances|graph|triggers|firings``),
each through the service layer as the caller's principal (so filtered by its scope).

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
from unifier.api.deps import ServiceDep
from unifier.duration import parse_duration
from unifier.model import RunState
from unifier.status import InstanceRow
from unifier.triggers.graph import TriggerGraph, to_json
from unifier.triggers.store import Firing, StoredTrigger

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


@api.get("/whoami")
def whoami(service: ServiceDep) -> dict[str, Any]:
    """The caller's principal: name, subjects, and grants (role and scope each)."""
    return service.whoami()


@api.get("/status")
def status_view(service: ServiceDep) -> list[dict[str, Any]]:
    """One row per job across every tool: its last run and its next scheduled time."""
    return [r.model_dump(mode="json") for r in service.status()]


@api.get("/jobs")
def jobs(service: ServiceDep, instance: str | None = None) -> list[dict[str, Any]]:
    return [j.model_dump(mode="json") for j in service.jobs(instance)]


@api.get("/jobs/{uri:path}")
def job(uri: str, service: ServiceDep) -> dict[str, Any]:
    return service.job(uri).model_dump(mode="json")


@api.get("/runs")
def runs(service: ServiceDep, job: str | None = None, instance: str | None = None,
         state: list[RunState] | None = Query(default=None, description="repeatable"),
         since: str | None = Query(default=None, description="only runs active within this long, e.g. 24h"),
         limit: int = Query(default=100, ge=1, le=10000)) -> list[dict[str, Any]]:
    """Runs across every tool, newest first."""
    found = service.runs(job=job, instance=instance, states=state, since=_window(since), limit=limit)
    return [r.model_dump(mode="json") for r in found]


@api.get("/run")
def run_by_query(job: str, run_id: str, service: ServiceDep) -> dict[str, Any]:
    """One run, for run ids holding ``/``."""
    return service.run(job, run_id).model_dump(mode="json")


@api.get("/runs/{job:path}/{run_id}")
def run(job: str, run_id: str, service: ServiceDep) -> dict[str, Any]:
    return service.run(job, run_id).model_dump(mode="json")


@api.get("/instances")
def instances(service: ServiceDep) -> list[InstanceRow]:
    return service.instances()


@api.get("/graph")
def graph(service: ServiceDep) -> dict[str, Any]:
    """The cross-tool dependency graph of the stored triggers (``unifier graph -o json``)."""
    known = {j.uri for j in service.jobs()}
    return to_json(TriggerGraph(service.graph_triggers()), known)


@api.get("/triggers")
def triggers(service: ServiceDep) -> list[dict[str, Any]]:
    return [trigger_view(t) for t in service.triggers()]


@api.get("/triggers/{name}")
def trigger(name: str, service: ServiceDep) -> dict[str, Any]:
    return trigger_view(service.trigger_definition(name))


@api.get("/firings")
def firings(service: ServiceDep, trigger: str | None = None, status: str | None = None,
            limit: int = Query(default=100, ge=1, le=10000)) -> list[dict[str, Any]]:
    return [firing_view(f) for f in service.firings(trigger, status=status, limit=limit)]


@api.get("/next")
def next_runs(service: ServiceDep,
              within: str = Query(default="24h", description="e.g. 24h, 7d")) -> list[dict[str, Any]]:
    """What will run next, from schedules and triggers (``unifier next -o json``)."""
    return service.next(_window(within) or timedelta(0))


@api.get("/why")
def why(service: ServiceDep, target: str = Query(description="JOB_URI (with run_id), a RUN_ID or an approval id"),
        run_id: str | None = None) -> dict[str, Any]:
    """What caused a run, back to its root cause (``unifier why -o json``; ``text`` as printed)."""
    answer = service.why(target, run_id)
    return {**answer.json, "text": answer.text}


router = APIRouter()
router.include_router(api)
router.include_router(events.router)
router.include_router(dashboard.router)
