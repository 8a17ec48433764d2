"""Read-only views under ``/api``: the same rows, with the same field names, as the
CLI's ``-o json`` (``unifier status|jobs|runs|instances|graph|triggers|firings``),
each through the service layer as the caller's principal (so filtered by its scope).

A job URI holds ``://``, so it goes in the path as it is (``/api/jobs/cron://hosts/backup``)
or percent-encoded. A run is ``/api/runs/{JOB_URI}/{RUN_ID}``: the last path segment is the
run id; a run id that itself holds ``/`` is asked for as ``/api/run?job=...&run_id=...``.

Listings (status, jobs, runs) filter and sort in the catalog and answer a page at a time:
``limit`` rows (100 unless asked), and the next page's URL in a ``Link: <...>; rel="next"``
header (RFC 8288), so the body stays a plain list.



"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import TypeAdapter

from unifier.api import events
from unifier.api.deps import ServiceDep
from unifier.catalog.listing import BadPage, JobFilter, Page, RunFilter
from unifier.duration import parse_duration
from unifier.model import Job, Run, RunState, utcnow
from unifier.status import (
    SORT_HELP,
    InstanceRow,
    LastRun,
    StatusRow,
    StatusSort,
    status_filter,
)
from unifier.triggers.graph import TriggerGraph
from unifier.triggers.graph_formats import to_json
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


T = TypeVar("T")

DEFAULT_LIMIT = 100
LimitQuery = Annotated[int, Query(ge=1, le=10_000, description="at most this many rows (a page)")]
CursorQuery = Annotated[str | None, Query(description="where the page starts: from the previous "
                                                      "page's Link rel=\"next\" header")]
ToolQuery = Annotated[str | None, Query(description="adapter kind, e.g. airflow")]
InstanceQuery = Annotated[str | None, Query(description="instance name")]
OwnerQuery = Annotated[str | None, Query(description="the job's owner")]
TagQuery = Annotated[str | None, Query(description="a tag of the job")]
TextQuery = Annotated[str | None, Query(description="substring (any case) of the job URI, name, owner or a tag")]
PausedQuery = Annotated[bool | None, Query(description="true: paused jobs only; false: active ones only")]


def _read(read: Callable[[], Page[T]]) -> Page[T]:
    try:
        return read()
    except BadPage as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


_STATUS_ROWS = TypeAdapter(list[StatusRow])
_JOBS = TypeAdapter(list[Job])
_RUNS = TypeAdapter(list[Run])


def _page(request: Request, page: Page[T], rows: TypeAdapter[list[T]]) -> Response:
    """The page's rows as the body, serialized once, straight from the models (a page
    may hold 10,000); the next page's URL in ``Link`` (RFC 8288)."""
    response = Response(rows.dump_json(page.items), media_type="application/json")
    if page.next_cursor:
        response.headers["Link"] = f'<{request.url.include_query_params(cursor=page.next_cursor)}>; rel="next"'
    return response


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


@api.get("/status", response_model=list[StatusRow])
def status_view(service: ServiceDep, request: Request,
                tool: ToolQuery = None, instance: InstanceQuery = None,
                state: Annotated[list[LastRun] | None, Query(
                    description="of the last run, or never (no run yet); repeatable")] = None,
                owner: OwnerQuery = None, tag: TagQuery = None, text: TextQuery = None, paused: PausedQuery = None,
                sort: Annotated[StatusSort | None, Query(description=SORT_HELP)] = None,
                limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None) -> Response:
    """One row per job across every tool: its last run and its next scheduled time."""
    where = status_filter(tool=tool, instance=instance, owner=owner, tag=tag, text=text, paused=paused,
                          states=state)
    return _page(request, _read(lambda: service.status(where, sort=sort, limit=limit, cursor=cursor)),
                 _STATUS_ROWS)


@api.get("/jobs", response_model=list[Job])
def jobs(service: ServiceDep, request: Request,
         tool: ToolQuery = None, instance: InstanceQuery = None, owner: OwnerQuery = None,
         tag: TagQuery = None, text: TextQuery = None, paused: PausedQuery = None,
         limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None) -> Response:
    """Every job, by URI."""
    where = JobFilter(tool=tool, instance=instance, owner=owner, tag=tag, text=text, paused=paused)
    return _page(request, _read(lambda: service.jobs(where, limit=limit, cursor=cursor)), _JOBS)


@api.get("/jobs/{uri:path}")
def job(uri: str, service: ServiceDep) -> dict[str, Any]:
    return service.job(uri).model_dump(mode="json")


@api.get("/runs", response_model=list[Run])
def runs(service: ServiceDep, request: Request,
         job: str | None = None, tool: ToolQuery = None, instance: InstanceQuery = None,
         state: Annotated[list[RunState] | None, Query(description="repeatable")] = None,
         since: Annotated[str | None, Query(description="only runs active within this long, e.g. 24h")] = None,
         owner: OwnerQuery = None, tag: TagQuery = None,
         text: Annotated[str | None, Query(description="substring of the job URI or the run id")] = None,
         sort: Annotated[str | None, Query(description="started (default) or updated; newest first")] = None,
         limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None) -> Response:
    """Runs across every tool, newest first."""
    window = _window(since)
    where = RunFilter(job=job, instance=instance, tool=tool, states=state, owner=owner, tag=tag, text=text,
                      since=utcnow() - window if window else None)
    return _page(request, _read(lambda: service.runs(where, sort=sort, limit=limit, cursor=cursor)), _RUNS)


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
    known = {j.uri for j in service.jobs().items}
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
