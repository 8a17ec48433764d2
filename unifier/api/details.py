"""Read routes for the dashboard's detail pages, beside the list views of
:mod:`unifier.api.views`:

- ``GET /api/runs/{JOB_URI}/{RUN_ID}/why`` (or ``/api/run/why?job=&run_id=`` for run ids
  holding ``/``): the run's whole cause chain, as ``unifier why -o json``;
- ``GET /api/run/events?job=&run_id=``: the run's state history, oldest first;
- ``GET /api/run/logs?job=&run_id=&tail=N``: the last lines of its log, read from the tool;
- ``GET /api/forecast?within=24h&job=``: expected runs, as ``unifier next -o json``;
- ``GET /api/health/instances``: each instance's health, poll interval and staleness.

Each goes through the service layer as the caller's principal: a run or job outside its
scope is a 404, and listings hold only what it may see. Routes are plain ``def``:
FastAPI runs them in its thread pool, so neither a catalog query nor a tool call ever
waits on the event loop that serves the stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status

from unifier.api.deps import ServiceDep
from unifier.api.events import event_view
from unifier.duration import parse_duration
from unifier.instance_health import InstanceFreshness

router = APIRouter(prefix="/api", tags=["details"])

MAX_LOG_LINES = 10_000


@router.get("/runs/{job:path}/{run_id}/why")
def run_why(job: str, run_id: str, service: ServiceDep) -> dict[str, Any]:
    """What caused this run, back to its root causes (schedule, manual, external)."""
    return service.why(job, run_id).json


@router.get("/run/why")
def run_why_by_query(job: str, run_id: str, service: ServiceDep) -> dict[str, Any]:
    """As ``/api/runs/{job}/{run_id}/why``, for run ids holding ``/``."""
    return service.why(job, run_id).json


@router.get("/run/events")
def run_events(job: str, run_id: str, service: ServiceDep) -> list[dict[str, Any]]:
    """The run's state changes in the order they were recorded (all its attempts)."""
    return [event_view(i, e) for i, e in service.run_events(job, run_id)]


@router.get("/run/logs")
def run_log_tail(job: str, run_id: str, service: ServiceDep,
                 tail: int = Query(default=200, ge=1, le=MAX_LOG_LINES,
                                   description="only the last N lines")) -> dict[str, Any]:
    """The end of the run's log, read from its tool now (502 when the tool cannot answer)."""
    run = service.run(job, run_id)
    # this route runs in a worker thread: the adapter gets an event loop of its own there
    lines = asyncio.run(service.logs(job, run_id)).splitlines()
    return {"job": job, "run_id": run_id, "state": run.state.value, "terminal": run.state.terminal,
            "lines": lines[-tail:], "truncated": len(lines) > tail, "log_url": run.log_url}


@router.get("/forecast")
def forecast_view(service: ServiceDep, job: str | None = Query(default=None, description="only this job's"),
                  within: str = Query(default="24h", description="how far ahead, e.g. 24h, 7d")
                  ) -> list[dict[str, Any]]:
    """Expected runs in time order, from schedules and the trigger graph (``unifier next -o json``)."""
    try:
        window = parse_duration(within)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"within: {exc}") from None
    return service.next(window, job=job)


@router.get("/health/instances")
def instances_freshness(service: ServiceDep) -> list[InstanceFreshness]:
    """Each instance: healthy or not, its last sync and error, and whether its data is stale."""
    return service.instance_health()
