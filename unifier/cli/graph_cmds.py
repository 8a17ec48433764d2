"""plan, graph, impact, why, next: what the triggers will do and what they did."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from unifier.cli.client import client
from unifier.cli.output import EXIT_USAGE, Format, OutputOption, err, out, print_json, table, when
from unifier.config import load_files
from unifier.duration import parse_duration
from unifier.model import utcnow
from unifier.plan import DEFAULT_MAX_FAN_OUT, Plan
from unifier.triggers.graph import GraphTrigger, TriggerGraph
from unifier.triggers.graph_formats import dumps_json, to_dot, to_mermaid, to_text

FilesOption = Annotated[
    list[Path], typer.Option("--filename", "-f", help="YAML file or directory (repeatable)")]
OptionalFiles = Annotated[
    list[Path] | None,
    typer.Option("--filename", "-f", help="read triggers from these files instead of the catalog")]


class GraphFormat(enum.StrEnum):
    text = "text"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command()(plan)
    app.command()(graph)
    app.command()(impact)
    app.command()(why)
    app.command(name="next")(next_cmd)


def _triggers(files: list[Path] | None) -> list[GraphTrigger]:
    """From the files when given, else the stored triggers (those the caller may see)."""
    if files:
        return [GraphTrigger.from_loaded(item) for item in load_files(files).of_kind("Trigger")]
    return client().graph_triggers()


def _rate(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"


def plan(
    files: FilesOption,
    prune: Annotated[bool, typer.Option(help="as `apply --prune`: delete what the files no longer name")] = False,
    max_fan_out: Annotated[
        int, typer.Option(help="warn when one job starts more jobs than this")] = DEFAULT_MAX_FAN_OUT,
    output: OutputOption = Format.table,
) -> None:
    """Show what `apply` would change and what the resulting triggers would do; write nothing.

    Exit status 2 when the trigger set has a cycle (apply refuses it too)."""
    result = client().plan_files(files, prune=prune, max_fan_out=max_fan_out)
    if output == Format.json:
        print_json(result.to_json())
    else:
        _print_plan(result)
    if result.refused:
        for problem in result.cycle_problems:
            err.print(f"[red]refused:[/] {escape(str(problem))}", markup=True, highlight=False)
        raise typer.Exit(EXIT_USAGE)


def _print_plan(result: Plan) -> None:
    marks = {"created": "[green]+[/]", "configured": "[yellow]~[/]", "deleted": "[red]-[/]", "unchanged": " "}
    for change in result.changes:
        out.print(f"{marks.get(change.action, ' ')} {change}")
    counts = {a: sum(1 for c in result.changes if c.action == a) for a in ("created", "configured", "deleted")}
    out.print(f"\nPlan: {counts['created']} to create, {counts['configured']} to change, "
              f"{counts['deleted']} to delete.")
    if result.estimates:
        out.print("")
        table(["TRIGGER", "MODE", "FIRINGS/DAY", "RUNS STARTED/DAY", "UPSTREAM RUNS/DAY"],
              [(e.trigger + (" (paused)" if e.paused else ""), e.mode, _rate(e.firings_per_day),
                _rate(e.runs_started_per_day), ", ".join(f"{j} {_rate(r)}" for j, r in e.upstream))
               for e in result.estimates])
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(str(warning))}", markup=True, highlight=False)


def graph(
    files: OptionalFiles = None,
    output: Annotated[
        GraphFormat, typer.Option("--output", "-o", help="text, dot, mermaid or json")] = GraphFormat.text,
) -> None:
    """Draw the cross-tool dependency graph of the triggers (stored, or from files)."""
    drawn = TriggerGraph(_triggers(files))
    if output == GraphFormat.dot:
        out.out(to_dot(drawn), end="")
    elif output == GraphFormat.mermaid:
        out.out(to_mermaid(drawn), end="")
    elif output == GraphFormat.json:
        known = None if files else client().known_jobs()
        out.out(dumps_json(drawn, known), end="")
    else:
        out.out(to_text(drawn) or "no triggers\n", end="")
        for cycle in drawn.cycles():
            err.print(f"[red]{escape(str(cycle))}[/]", markup=True, highlight=False)


def impact(
    uri: Annotated[str, typer.Argument(help="a job URI, e.g. airflow://prod/etl_daily")],
    files: OptionalFiles = None,
    output: OutputOption = Format.table,
) -> None:
    """Everything downstream of a job, across tools, with the triggers on the way."""
    reached = TriggerGraph(_triggers(files)).impact(uri)
    if output == Format.json:
        print_json([{"job": i.job, "depth": i.depth, "triggers": list(i.triggers),
                     "path": [i.path[0].upstream, *(e.downstream for e in i.path)]} for i in reached])
        return
    if not reached:
        err.print(f"nothing is triggered by {uri}")
        return
    table(["DEPTH", "JOB", "VIA"],
          [(i.depth, i.job, escape(" -> ".join([i.path[0].upstream,
                                                *(f"[{e.trigger}] {e.downstream}" for e in i.path)])))
           for i in reached])


def why(
    target: Annotated[str, typer.Argument(help="JOB_URI, or a RUN_ID unique across jobs", metavar="JOB_URI|RUN_ID")],
    run_id: Annotated[str | None, typer.Argument(help="the run id, when a job URI comes first")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Explain what caused a run, back to the root cause (schedule, manual, external)."""
    answer = client().why(target, run_id)
    if output == Format.json:
        print_json(answer.json)
        return
    out.out(answer.text, end="")


def next_cmd(
    within: Annotated[str, typer.Option(help="how far ahead to look, e.g. 24h, 7d")] = "24h",
    output: OutputOption = Format.table,
) -> None:
    """What will run next across all tools, from schedules and triggers, in time order."""
    try:
        window: timedelta = parse_duration(within)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--within") from None
    now = utcnow()
    rows = client().next(window)
    if output == Format.json:
        print_json(rows)
        return
    if not rows:
        err.print(f"nothing expected within {within}")
        return
    table(["AT", "", "JOB", "WHY"],
          [(("~" if not r["exact"] else "") + datetime.fromisoformat(r["at"]).strftime("%Y-%m-%d %H:%MZ"),
            when(datetime.fromisoformat(r["at"]), now), r["job"], r["detail"]) for r in rows])
