"""Read-only views of the catalog: status, jobs, runs, instances, adapters."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from unifier.cli.client import client
from unifier.cli.output import (
    Format,
    OutputOption,
    out,
    print_json,
    state_text,
    table,
    when,
)
from unifier.duration import parse_duration
from unifier.model import RunState, utcnow
from unifier.plugins import adapter_registry, get_plugin_manager


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(jobs)
    app.command()(runs)
    app.command()(instances)
    app.command()(adapters)
    app.command()(events)


def status(output: OutputOption = Format.table) -> None:
    """One row per job across every tool: its last run and its next scheduled time."""
    rows = client().status()
    if output == Format.json:
        print_json(rows)
        return
    now = utcnow()
    table(["JOB", "STATE", "LAST RUN", "NEXT RUN", "SCHEDULE"],
          [(r.job + (" [dim](paused)[/]" if r.paused else ""),
            state_text(r.state) + (f" [red]! {r.instance_error}[/]" if r.instance_error else ""),
            when(r.last_run_at, now), when(r.next_run_at, now), r.schedule) for r in rows])


def jobs(
    instance: Annotated[str | None, typer.Option(help="only this instance")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Every job unifier knows, across every tool."""
    found = client().jobs(instance)
    if output == Format.json:
        print_json(found)
        return
    table(["URI", "NAME", "SCHEDULE", "TZ", "PAUSED", "OWNER"],
          [(j.uri, j.name, j.schedule, j.timezone, "yes" if j.paused else "", j.owner) for j in found])


def runs(
    job: Annotated[str | None, typer.Option(help="only runs of this job URI")] = None,
    state: Annotated[list[RunState] | None, typer.Option(help="only runs in this state (repeatable)")] = None,
    since: Annotated[str | None, typer.Option(help="only runs active within this long, e.g. 24h")] = None,
    instance: Annotated[str | None, typer.Option(help="only this instance")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 100,
    output: OutputOption = Format.table,
) -> None:
    """Runs across every tool, newest first."""
    try:
        window: timedelta | None = parse_duration(since) if since else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    found = client().runs(job=job, instance=instance, states=state, since=window, limit=limit)
    if output == Format.json:
        print_json(found)
        return
    now = utcnow()
    columns = ["JOB", "RUN", "STATE", "NATIVE", "STARTED", "ENDED", "CAUSE"]
    table(columns, [(r.job, r.run_id, state_text(r.state), r.native_state, when(r.started_at, now),
                     when(r.ended_at, now), r.cause.kind.value) for r in found])


def instances(output: OutputOption = Format.table) -> None:
    """Configured instances and their health (last sync, last error)."""
    rows = client().instances()
    if output == Format.json:
        print_json(rows)
        return
    table(["NAME", "ADAPTER", "LAST SYNC", "HEALTH"],
          [(r.name, r.adapter, when(r.last_sync_at),
            "[green]ok[/]" if r.healthy else f"[red]{r.error}[/]") for r in rows])


def adapters(output: OutputOption = Format.table) -> None:
    """Installed adapters, what each can do, and which package provides it."""
    rows = []
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
