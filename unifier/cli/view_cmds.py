"""Read-only views of the catalog: status, jobs, runs, instances, adapters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer

from unifier.catalog.listing import BadPage, JobFilter, Page, RunFilter
from unifier.cli.client import client
from unifier.cli.output import (
    Format,
    OutputOption,
    err,
    out,
    print_json,
    state_text,
    table,
    when,
)
from unifier.duration import parse_duration
from unifier.model import RunState, utcnow
from unifier.plugins import adapter_registry, get_plugin_manager
from unifier.status import SORT_HELP, LastRun, StatusSort, status_filter

T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(jobs)
    app.command()(runs)
    app.command()(instances)
    app.command()(adapters)
    app.command()(events)


ToolOption = Annotated[str | None, typer.Option("--tool", help="only jobs of this adapter kind, e.g. airflow")]
InstanceOption = Annotated[str | None, typer.Option(help="only this instance")]
OwnerOption = Annotated[str | None, typer.Option(help="only jobs of this owner")]
TagOption = Annotated[str | None, typer.Option(help="only jobs with this tag")]
TextOption = Annotated[str | None, typer.Option(help="only jobs whose URI, name, owner or a tag holds this text")]
PausedOption = Annotated[bool | None, typer.Option("--paused/--active", help="only paused jobs, or only active ones")]
CursorOption = Annotated[str | None, typer.Option(help="start where the previous page ended (it prints the cursor)")]


def _read(read: Callable[[], Page[T]]) -> Page[T]:
    """Bad paging input is a usage error (exit 2); the next page's cursor goes to stderr."""
    try:
        found = read()
    except BadPage as exc:
        raise typer.BadParameter(str(exc)) from None
    if found.next_cursor:
        err.print(f"[dim]more: --cursor {found.next_cursor}[/]")
    return found


def status(
    tool: ToolOption = None,
    instance: InstanceOption = None,
    state: Annotated[list[LastRun] | None, typer.Option(
        help="last run in this state, or never: no run yet (repeatable)")] = None,
    owner: OwnerOption = None,
    tag: TagOption = None,
    text: TextOption = None,
    paused: PausedOption = None,
    sort: Annotated[StatusSort | None, typer.Option(help=SORT_HELP)] = None,
    limit: Annotated[int | None, typer.Option(help="at most this many rows (default: all)")] = None,
    cursor: CursorOption = None,
    output: OutputOption = Format.table,
) -> None:
    """One row per job across every tool: its last run and its next scheduled time."""
    where = status_filter(tool=tool, instance=instance, owner=owner, tag=tag, text=text, paused=paused,
                          states=state)
    rows = _read(lambda: client().status(where, sort=sort, limit=limit, cursor=cursor)).items
    if output == Format.json:
        print_json(rows)
        return
    now = utcnow()
    table(["JOB", "STATE", "LAST RUN", "NEXT RUN", "SCHEDULE"],
          [(r.job + (" [dim](paused)[/]" if r.paused else ""),
            state_text(r.state) + (f" [red]! {r.instance_error}[/]" if r.instance_error else ""),
            when(r.last_run_at, now), when(r.next_run_at, now), r.schedule) for r in rows])


def jobs(
    tool: ToolOption = None,
    instance: InstanceOption = None,
    owner: OwnerOption = None,
    tag: TagOption = None,
    text: TextOption = None,
    paused: PausedOption = None,
    limit: Annotated[int | None, typer.Option(help="at most this many (default: all)")] = None,
    cursor: CursorOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Every job unifier knows, across every tool."""
    where = JobFilter(tool=tool, instance=instance, owner=owner, tag=tag, text=text, paused=paused)
    found = _read(lambda: client().jobs(where, limit=limit, cursor=cursor)).items
    if output == Format.json:
        print_json(found)
        return
    table(["URI", "NAME", "SCHEDULE", "TZ", "PAUSED", "OWNER"],
          [(j.uri, j.name, j.schedule, j.timezone, "yes" if j.paused else "", j.owner) for j in found])


def runs(
    job: Annotated[str | None, typer.Option(help="only runs of this job URI")] = None,
    state: Annotated[list[RunState] | None, typer.Option(help="only runs in this state (repeatable)")] = None,
    since: Annotated[str | None, typer.Option(help="only runs active within this long, e.g. 24h")] = None,
    instance: InstanceOption = None,
    tool: ToolOption = None,
    owner: OwnerOption = None,
    tag: TagOption = None,
    text: Annotated[str | None, typer.Option(help="only runs whose job URI or run id holds this text")] = None,
    sort: Annotated[str | None, typer.Option(help="started (default) or updated; newest first")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 100,
    cursor: CursorOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Runs across every tool, newest first."""
    try:
        window: timedelta | None = parse_duration(since) if since else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    where = RunFilter(job=job, instance=instance, tool=tool, states=state, owner=owner, tag=tag, text=text,
                      since=utcnow() - window if window else None)
    found = _read(lambda: client().runs(where, sort=sort, limit=limit, cursor=cursor)).items
    if output == Format.json:
        print_json(found)
        return
    now = utcnow()
    columns = ["JOB", "RUN", "STATE", "NATIVE", "STARTED", "ENDED", "CAUSE"]
    table(columns, [(r.job, r.run_id, state_text(r.state), r.native_state, when(r.started_at, now),
                     when(r.ended_at, now), r.cause.kind.value) for r in found])


def instances(output: OutputOption = Format.table) -> None:
    """Configured instances and their health (last sync, last error)."""
    reader = client()
    rows = reader.instances()
    if output == Format.json:
        print_json(rows)
        return
    table(["NAME", "ADAPTER", "ZONE", "LAST SYNC", "HEALTH"],
          [(r.name, r.adapter, r.zone, when(r.last_sync_at),
            "[green]ok[/]" if r.healthy else f"[red]{r.error}[/]") for r in rows])
    lead = reader.leader()  # `unifier leader` tells more
    if lead is not None:
        out.print(f"control loop: led by {lead.holder} since {when(lead.acquired_at)}, "
                  f"heartbeat {when(lead.renewed_at)}")


def adapters(output: OutputOption = Format.table) -> None:
    """Installed adapters, what each can do, and which package provides it."""
    rows: list[dict[str, Any]] = []
    for kind, spec in sorted(adapter_registry().adapters.items()):
        loaded, why = spec.installed()
        caps = spec.load().capabilities.names() if loaded else []
        rows.append({"kind": kind, "installed": loaded, "capabilities": caps, "source": spec.source,
                     "extra": spec.extra, "problem": why or None, "description": spec.description})
    for name, why in sorted(get_plugin_manager().broken.items()):
        rows.append({"kind": name, "installed": False, "capabilities": [], "source": f"entry point {name}",
                     "extra": None, "problem": why, "description": "broken plugin"})
    if output == Format.json:
        print_json(rows)
        return
    table(["ADAPTER", "CAPABILITIES", "FROM"],
          [(r["kind"], ", ".join(r["capabilities"]) if r["installed"]
            else f"[yellow]not usable: {r['problem']}[/]", r["source"]) for r in rows])


def events(
    job: Annotated[str | None, typer.Option(help="only events of this job URI")] = None,
    after: Annotated[int, typer.Option(help="only events after this event id")] = 0,
    limit: Annotated[int, typer.Option(help="at most this many")] = 1000,
    openlineage: Annotated[bool, typer.Option("--openlineage", help="one OpenLineage RunEvent JSON per line")] = False,
    output: OutputOption = Format.table,
) -> None:
    """The append-only history of run state changes (OpenLineage-shaped)."""
    from unifier.lineage import to_openlineage

    found = client().events(after=after, job=job, limit=limit)
    if openlineage:
        import json

        for _, event in found:
            out.file.write(json.dumps(to_openlineage(event)) + "\n")
        return
    if output == Format.json:
        print_json([{"id": i, **e.model_dump(mode="json")} for i, e in found])
        return
    table(["ID", "TIME", "EVENT", "JOB", "RUN", "ATTEMPT", "STATE"],
          [(i, e.event_time.strftime("%Y-%m-%d %H:%M:%S"), e.event_type.value, e.job, e.run_id, e.attempt,
            state_text(e.state)) for i, e in found])
