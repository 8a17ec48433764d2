"""Read routes for the dashboard's detail pages, beside the list views of
:mod:`unifier.api.views`:

- ``GET /api/runs/{JOB_URI}/{RUN_ID}/why`` (or ``/api/run/why?job=&run_id=`` for run ids
  holding ``/``): the run's whole cause chain, as ``unifier why -o json``;
- ``GET /api/run/events?job=&run_id=``: the run's state history, oldest first;
- ``GET /api/run/logs?job=&run_id=&tail=N``: the last lines of its log, read from the tool;
- ``GET /api/forecast?within=24h&job=``: expected runs, as ``unifier next -o json``;
- ``GET /api/health/instances``: each instance's health, poll interval and staleness.

Routes are plain ``def``: FastAPI runs them in its thread pool, so neither a catalog
query nor a tool call ever waits on the event loop that serves the stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status

from unifier.actions import run_logs
from unifier.api.deps import CatalogDep
from unifier.api.events import event_view
from unifier.catalog import Catalog
from unifier.duration import parse_duration
from unifier.forecast import forecast
from unifier.instance_health import InstanceFreshness, instance_freshness
from unifier.model import utcnow
from unifier.plan import stored_triggers
from unifier.triggers.why import explain_stored_run, explanation_view

router = APIRouter(prefix="/api", tags=["details"])

_EVENT_PAGE = 1000
MAX_LOG_LINES = 10_000


def _why(catalog: Catalog, job: str, run_id: str) -> dict[str, Any]:
    return explanation_view(explain_stored_run(catalog, catalog.get_run(job, run_id)))


@router.get("/runs/{job:path}/{run_id}/why")
def run_why(job: str, run_id: str, catalog: CatalogDep) -> dict[str, Any]:
    """What caused this run, back to its root causes (schedule, manual, external)."""
    return _why(catalog, job, run_id)


@router.get("/run/why")
def run_why_by_query(job: str, run_id: str, catalog: CatalogDep) -> dict[str, Any]:
    """As ``/api/runs/{job}/{run_id}/why``, for run ids holding ``/``."""
    return _why(catalog, job, run_id)


@router.get("/run/events")
def run_events(job: str, run_id: str, catalog: CatalogDep) -> list[dict[str, Any]]:
    """The run's state changes in the order they were recorded (all its attempts)."""
    catalog.get_run(job, run_id)  # 404 for a run the catalog does not hold
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = catalog.list_events(after_id=after, job=job, limit=_EVENT_PAGE)
        found += [event_view(i, e) for i, e in page if e.run_id == run_id]
        if len(page) < _EVENT_PAGE:
            return found
        after = page[-1][0]


@router.get("/run/logs")
def run_log_tail(job: str, run_id: str, catalog: CatalogDep,
                 tail: int = Query(default=200, ge=1, le=MAX_LOG_LINES,
                                   description="only the last N lines")) -> dict[str, Any]:
    """The end of the run's log, read from its tool now (502 when the tool cannot answer)."""
    run = catalog.get_run(job, run_id)
    # this route runs in a worker thread: the adapter gets an event loop of its own there
    lines = asyncio.run(run_logs(catalog, job, run_id)).splitlines()
    return {"job": job, "run_id": run_id, "state": run.state.value, "terminal": run.state.terminal,
            "lines": lines[-tail:], "truncated": len(lines) > tail, "log_url": run.log_url}


@router.get("/forecast")
def forecast_view(catalog: CatalogDep, job: str | None = Query(default=None, description="only this job's"),
                  within: str = Query(default="24h", description="how far ahead, e.g. 24h, 7d")
                  ) -> list[dict[str, Any]]:
    """Expected runs in time order, from schedules and the trigger graph (``unifier next -o json``)."""
    try:
        window = parse_duration(within)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"within: {exc}") from None
    if job is not None:
        catalog.get_job(job)  # 404 for a job the catalog does not hold
    return [r.to_json() for r in forecast(catalog, stored_triggers(catalog), within=window, now=utcnow(), only=job)]


@router.get("/health/instances")
def instances_freshness(catalog: CatalogDep) -> list[InstanceFreshness]:
    """Each instance: healthy or not, its last sync and error, and whether its data is stale."""
    return instance_freshness(catalog)
