"""The read tools: everything an agent may ask, each answer limited to its scope.

Every tool is annotated ``readOnlyHint``; listings are paginated (``limit`` and the
``next_cursor`` of the previous page) so that a model's context is not flooded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from unifier.duration import parse_duration
from unifier.mcp.backend import Agent, ControlPlaneReader
from unifier.mcp.paging import clamp_limit, decode_cursor, page, page_of_fetched

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.server.mcpserver import MCPServer

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)
MAX_LOG_LINES = 500

Limit = Annotated[int | None, Field(description="page size (default 20, at most 100)")]
Cursor = Annotated[str | None, Field(description="next_cursor of the previous page, to read the next one")]
JobUri = Annotated[str, Field(description="a job URI, e.g. cron://hosts/backup or airflow://prod/etl_daily")]
RunId = Annotated[str, Field(description="the run's native id (see list_runs)")]
States = Annotated[list[str] | None, Field(
    description="only these states: queued, running, succeeded, failed, cancelled, skipped, unknown")]
LastStates = Annotated[list[str] | None, Field(
    description="only jobs whose last run is in these states (or 'never' ran)")]
Kinds = Annotated[list[str] | None, Field(description="only these tools, e.g. cron, airflow")]
Instance = Annotated[str | None, Field(description="only this instance")]
JobGlob = Annotated[str | None, Field(description="only job URIs matching this glob")]
OptionalJob = Annotated[str | None, Field(description="only runs of this job URI")]
Since = Annotated[str | None, Field(description="only runs active within this long, e.g. 24h")]


def _seconds(text: str, name: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


class ReadTools:
    """The read tools over one reader; ``identify`` tells who is calling."""

    def __init__(self, reader: ControlPlaneReader, identify: Callable[[Context], Agent]):
        self.reader = reader
        self.identify = identify

    def register(self, server: MCPServer[Any]) -> None:
        for tool in (self.status, self.search_jobs, self.list_runs, self.get_run, self.why, self.impact,
                     self.next, self.get_logs, self.graph, self.instances, self.plan):
            server.add_tool(tool, annotations=READ_ONLY, structured_output=False)

    async def status(self, ctx: Context, states: LastStates = None, kinds: Kinds = None, instance: Instance = None,
                     job: JobGlob = None, limit: Limit = None, cursor: Cursor = None) -> dict[str, Any]:
        """One row per job across every tool: the state of its last run and when it runs next."""
        rows = await self.reader.status(self.identify(ctx), states=states, kinds=kinds, instance=instance, job=job)
        return page("status", rows, limit, cursor)

    async def search_jobs(self, ctx: Context, query: Annotated[str | None, Field(
                              description="text to find in the URI, name, description, owner or tags")] = None,
                          kind: Annotated[str | None, Field(description="only this tool, e.g. cron")] = None,
                          instance: Instance = None,
                          limit: Limit = None, cursor: Cursor = None) -> dict[str, Any]:
        """Find jobs by text; returns their URIs, names and schedules."""
        found = await self.reader.search_jobs(self.identify(ctx), query, kind=kind, instance=instance)
        return page("search_jobs", found, limit, cursor)

    async def list_runs(self, ctx: Context, job: OptionalJob = None, states: States = None, since: Since = None,
                        instance: Instance = None, limit: Limit = None, cursor: Cursor = None) -> dict[str, Any]:
        """Runs across every tool, newest first."""
        size, offset = clamp_limit(limit), decode_cursor("list_runs", cursor)
        since_seconds = _seconds(since, "since") if since else None
        fetched = await self.reader.list_runs(self.identify(ctx), job=job, states=states, since_seconds=since_seconds,
                                              instance=instance, limit=size + 1, offset=offset)
        return page_of_fetched("list_runs", fetched, size, offset)

    async def get_run(self, ctx: Context, job: JobUri, run_id: RunId) -> dict[str, Any]:
        """One run in full: times, parameters (secrets masked), cause, link to its log."""
        return await self.reader.get_run(self.identify(ctx), job, run_id)

    async def why(self, ctx: Context, job: JobUri, run_id: RunId) -> dict[str, Any]:
        """Why a run happened: its cause and, for a triggered run, the upstream runs that
        satisfied the trigger, back to the root causes (schedule, manual, external)."""
        return await self.reader.why(self.identify(ctx), job, run_id)

    async def impact(self, ctx: Context, job: JobUri, limit: Limit = None, cursor: Cursor = None) -> dict[str, Any]:
        """Everything downstream of a job, across tools, with the triggers on the way."""
        reached = await self.reader.impact(self.identify(ctx), job)
        return page("impact", reached, limit, cursor)

    async def next(self, ctx: Context, within: Annotated[str, Field(
                       description="how far ahead to look, e.g. 6h, 24h, 7d")] = "24h",
                   limit: Limit = None, cursor: Cursor = None) -> dict[str, Any]:
        """What will run next, from schedules and triggers, in time order."""
        rows = await self.reader.next_runs(self.identify(ctx), within_seconds=_seconds(within, "within"))
        return page("next", rows, limit, cursor)

    async def get_logs(self, ctx: Context, job: JobUri, run_id: RunId,
                       lines: Annotated[int, Field(ge=1, le=MAX_LOG_LINES,
                                                   description=f"last lines to return (at most {MAX_LOG_LINES})")] = 50,
                       ) -> dict[str, Any]:
        """The tail of a run's log as the tool keeps it; secret values are masked."""
        return await self.reader.logs_tail(self.identify(ctx), job, run_id, lines=lines)

    async def graph(self, ctx: Context) -> dict[str, Any]:
        """The cross-tool trigger graph: jobs, edges labelled by trigger, and cycles."""
        return await self.reader.graph(self.identify(ctx))

    async def instances(self, ctx: Context) -> dict[str, Any]:
        """Each connected tool instance: healthy or not, its last error, how fresh its data is."""
        return {"items": await self.reader.instances(self.identify(ctx))}

    async def plan(self, ctx: Context, yaml_text: Annotated[str, Field(
                       description="proposed unifier YAML documents (Instance, Trigger ...)")]) -> dict[str, Any]:
        """Dry run of proposed configuration: what applying it would change and the problems of
        the resulting trigger graph (cycles, missing jobs, fan-out, storm guards). Applies nothing."""
        return await self.reader.plan(self.identify(ctx), yaml_text)
