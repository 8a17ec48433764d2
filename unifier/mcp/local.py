"""The control plane over the local catalog: :class:`ControlPlaneReader` today.

Reuses the functions behind the CLI (:mod:`unifier.status`, :mod:`unifier.forecast`,
:mod:`unifier.plan`, :mod:`unifier.triggers.graph`, :func:`unifier.actions.run_logs`)
and limits every answer to the agent's scope. Catalog reads are blocking: each method
runs its work in a worker thread, so the event loop serving MCP never waits on the
database.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TypeVar

import anyio.to_thread
from pydantic_core import to_jsonable_python

from unifier.actions import run_logs
from unifier.catalog import Catalog
from unifier.config import load_files
from unifier.errors import ConfigError, NotFound, UnifierError
from unifier.forecast import forecast
from unifier.mcp import views
from unifier.mcp.backend import JSON, Agent
from unifier.mcp.plans import plan_view
from unifier.mcp.redact import Redactor, redactor_for
from unifier.model import RunState, utcnow
from unifier.plan import DEFAULT_MAX_FAN_OUT, build_plan, stored_triggers
from unifier.status import instance_rows, status_rows
from unifier.triggers.why import explain_stored_run

T = TypeVar("T")

MAX_PLAN_TEXT = 256 * 1024  # characters of proposed YAML


class LocalControlPlane:
    """``catalog_factory`` returns the catalog to read (one shared Catalog is fine: it
    opens a session per call)."""

    def __init__(self, catalog_factory: Callable[[], Catalog]):
        self._catalog_factory = catalog_factory

    async def _off_loop(self, work: Callable[[Catalog], T]) -> T:
        # the factory too may touch the database (Catalog.open migrates): in the worker
        return await anyio.to_thread.run_sync(self._run, work)

    def _run(self, work: Callable[[Catalog], T]) -> T:
        catalog = self._catalog_factory()
        try:
            return work(catalog)
        except NotFound:
            raise
        except UnifierError as exc:
            # a tool's error may quote a URL or command line holding a secret's value
            raise UnifierError(redactor_for(catalog).text(str(exc))) from None

    # ------------------------------------------------------------------ jobs and status

    async def status(self, agent: Agent, *, states: list[str] | None = None, kinds: list[str] | None = None,
                     instance: str | None = None, job: str | None = None) -> list[JSON]:
        wanted = _states(states, allow_never=True)

        def work(catalog: Catalog) -> list[JSON]:
            rows = []
            for row in status_rows(catalog):
                if not agent.scope.allows(row.job):
                    continue
                if kinds and row.kind not in kinds or instance and row.instance != instance:
                    continue
                if job and not fnmatchcase(row.job, job):
                    continue
                if wanted and (row.state.value if row.state else "never") not in wanted:
                    continue
                view = {"job": row.job, "state": row.state.value if row.state else "never",
                        "last_run_id": row.last_run_id, "last_run_at": row.last_run_at,
                        "next_run_at": row.next_run_at, "schedule": row.schedule, "paused": row.paused}
                if row.instance_error:
                    view["instance_error"] = row.instance_error
                rows.append(to_jsonable_python(view))
            return rows

        return await self._off_loop(work)

    async def search_jobs(self, agent: Agent, query: str | None = None, *, kind: str | None = None,
                          instance: str | None = None) -> list[JSON]:
        needle = (query or "").lower()

        def work(catalog: Catalog) -> list[JSON]:
            found = []
            redactor = redactor_for(catalog)
            for job in catalog.list_jobs(instance):
                if not agent.scope.allows(job.uri) or kind and job.kind != kind:
                    continue
                if needle in views.searchable_text(job, redactor):
                    found.append(views.job_brief(job, redactor))
            return found

        return await self._off_loop(work)

    async def job_page(self, agent: Agent, job: str) -> JSON:
        def work(catalog: Catalog) -> JSON:
            found = catalog.get_job(_in_scope(agent, job))
            graph = views.scoped_graph(stored_triggers(catalog), agent.scope)
            recent = catalog.list_runs(job=job, limit=5)
            return {"job": views.job_full(found, redactor_for(catalog)),
                    "recent_runs": [views.run_brief(r, agent.scope) for r in recent],
                    "triggered_by": [{"trigger": e.trigger, "upstream": e.upstream, "states": list(e.states)}
                                     for e in graph.upstream_edges(job)],
                    "triggers": [{"trigger": e.trigger, "downstream": e.downstream, "states": list(e.states)}
                                 for e in graph.downstream_edges(job)]}

        return await self._off_loop(work)

    # ------------------------------------------------------------------ runs

    async def list_runs(self, agent: Agent, *, job: str | None = None, states: list[str] | None = None,
                        since_seconds: float | None = None, instance: str | None = None,
                        limit: int = 50, offset: int = 0) -> list[JSON]:
        wanted = [RunState(s) for s in _states(states)] or None
        since = utcnow() - timedelta(seconds=since_seconds) if since_seconds else None
        if job is not None and not agent.scope.allows(job):
            return []

        def work(catalog: Catalog) -> list[JSON]:
            # the scope is a glob the database cannot filter on: read growing batches
            # until the page is full or the catalog has no more
            needed, fetch = offset + limit, offset + limit
            while True:
                runs = catalog.list_runs(job=job, instance=instance, states=wanted, since=since, limit=fetch)
                visible = [r for r in runs if agent.scope.allows(r.job)]
                if len(visible) >= needed or len(runs) < fetch:
                    return [views.run_brief(r, agent.scope) for r in visible[offset:needed]]
                fetch *= 4

        return await self._off_loop(work)

    async def get_run(self, agent: Agent, job: str, run_id: str) -> JSON:
        def work(catalog: Catalog) -> JSON:
            run = catalog.get_run(_in_scope(agent, job), run_id)
            return views.run_full(run, agent.scope, redactor_for(catalog))

        return await self._off_loop(work)

    async def why(self, agent: Agent, job: str, run_id: str) -> JSON:
        def work(catalog: Catalog) -> JSON:
            run = catalog.get_run(_in_scope(agent, job), run_id)

            explanation = explain_stored_run(catalog, run, visible=agent.scope.allows)
            return {"chain": views.explanation_view(explanation, agent.scope),
                    "roots": views.roots_view(explanation, agent.scope)}

        return await self._off_loop(work)

    async def logs_tail(self, agent: Agent, job: str, run_id: str, *, lines: int) -> JSON:
        def read(catalog: Catalog) -> tuple[str, Redactor]:
            catalog.get_run(_in_scope(agent, job), run_id)  # NotFound before asking the tool
            # the adapter is asynchronous but builds itself from the catalog: run it on
            # a loop of its own in this worker thread
            return asyncio.run(run_logs(catalog, job, run_id)), redactor_for(catalog)

        text, redactor = await self._off_loop(read)
        all_lines = text.splitlines()
        tail = all_lines[-lines:] if lines else []
        return {"job": job, "run_id": run_id, "lines": [redactor.text(line) for line in tail],
                "total_lines": len(all_lines), "truncated": len(all_lines) > len(tail)}

    # ------------------------------------------------------------------ triggers

    async def impact(self, agent: Agent, job: str) -> list[JSON]:
        def work(catalog: Catalog) -> list[JSON]:
            return views.impact_view(views.scoped_graph(stored_triggers(catalog), agent.scope),
                                     _in_scope(agent, job))

        return await self._off_loop(work)

    async def graph(self, agent: Agent) -> JSON:
        def work(catalog: Catalog) -> JSON:
            known = {j.uri for j in catalog.list_jobs() if agent.scope.allows(j.uri)}
            return views.graph_view(views.scoped_graph(stored_triggers(catalog), agent.scope), known)

        return await self._off_loop(work)

    async def next_runs(self, agent: Agent, *, within_seconds: float) -> list[JSON]:
        def work(catalog: Catalog) -> list[JSON]:
            rows = forecast(catalog, stored_triggers(catalog), within=timedelta(seconds=within_seconds))
            return [views.expected_view(r, agent.scope) for r in rows if agent.scope.allows(r.job)]

        return await self._off_loop(work)

    # ------------------------------------------------------------------ instances and plans

    async def instances(self, agent: Agent) -> list[JSON]:
        def work(catalog: Catalog) -> list[JSON]:
            now, redactor = utcnow(), redactor_for(catalog)
            rows = []
            for row in instance_rows(catalog):
                if not agent.scope.allows_instance(row.adapter, row.name):
                    continue
                age = (now - row.last_sync_at).total_seconds() if row.last_sync_at else None
                rows.append(to_jsonable_python({
                    "name": row.name, "adapter": row.adapter, "healthy": row.healthy,
                    "error": redactor.text(row.error) if row.error else None,
                    "last_sync_at": row.last_sync_at, "last_observed_at": row.last_observed_at,
                    "seconds_since_sync": None if age is None else round(age, 1)}))
            return rows

        return await self._off_loop(work)

    async def plan(self, agent: Agent, yaml_text: str) -> JSON:
        if len(yaml_text) > MAX_PLAN_TEXT:
            raise ValueError(f"the proposed YAML is {len(yaml_text)} characters; at most {MAX_PLAN_TEXT}")

        def work(catalog: Catalog) -> JSON:
            with tempfile.TemporaryDirectory(prefix="unifier-mcp-plan-") as folder:
                path = Path(folder) / "proposed.yaml"
                path.write_text(yaml_text)
                try:
                    config = load_files([path])
                except ConfigError as exc:
                    return {"valid": False, "problems": [{"line": p.line, "reason": p.reason.replace(folder, ".")}
                                                         for p in exc.problems]}
                result = build_plan(catalog, config, max_fan_out=DEFAULT_MAX_FAN_OUT)
                kinds = {s.instance.name: s.instance.kind for s in catalog.list_instances()}
                kinds.update({item.name: item.model.spec.adapter  # type: ignore[attr-defined]
                              for item in config.instances})
                return plan_view(result, agent.scope, str(path), kinds)

        return await self._off_loop(work)


# ---------------------------------------------------------------------- helpers


def _in_scope(agent: Agent, job: str) -> str:
    """``job``, or NotFound exactly as for a job that does not exist."""
    if not agent.scope.allows(job):
        raise NotFound(f"no job {job!r} in the catalog")
    return job


_STATE_NAMES = {s.value for s in RunState}


def _states(states: list[str] | None, *, allow_never: bool = False) -> list[str]:
    allowed = _STATE_NAMES | ({"never"} if allow_never else set())
    for state in states or []:
        if state not in allowed:
            raise ValueError(f"unknown state {state!r}; one of {', '.join(sorted(allowed))}")
    return list(states or [])
