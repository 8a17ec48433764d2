"""Commands that act: sync, trigger, cancel, logs (trigger, cancel and logs through the
:class:`~unifier.cli.client.Client`, local or remote; sync is local only)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from unifier.cli.client import Client, client
from unifier.cli.output import (
    EXIT_FAILED,
    Format,
    OutputOption,
    err,
    open_catalog,
    out,
    parse_params,
    print_json,
    progress,
    state_text,
    when,
)
from unifier.model import Run, RunState
from unifier.service import TriggerOutcome
from unifier.sync import sync_all


def register(app: typer.Typer) -> None:
    app.command()(sync)
    app.command()(trigger)
    app.command()(cancel)
    app.command()(logs)


def sync(
    instance: Annotated[list[str] | None, typer.Option(help="only this instance (repeatable)")] = None,
    discover: Annotated[bool, typer.Option(help="re-discover jobs (default: when due)")] = None,  # type: ignore[assignment]
    output: OutputOption = Format.table,
) -> None:
    """One sync cycle: discover jobs and pull changed runs from every instance."""
    catalog = open_catalog()
    names = instance or [s.instance.name for s in catalog.list_instances()]
    with progress(f"syncing {len(names)} instance(s)…"):
        reports = asyncio.run(sync_all(catalog, names, discover=True if discover is None else discover))
    if output == Format.json:
        print_json([{"instance": r.instance, "ok": r.ok, "error": r.error, "discovered": r.discovered,
                     "runs_seen": r.runs_seen, "events": len(r.events), "requests": r.requests,
                     "seconds": round(r.seconds, 3)} for r in reports])
    else:
        for r in reports:
            if r.ok:
                jobs = f"{sum((r.discovered or {}).values())} job change(s), " if r.discovered else ""
                out.print(f"[green]✓[/] {r.instance}: {jobs}{r.runs_seen} run(s) seen, "
                          f"{len(r.events)} event(s) ({r.seconds:.2f}s)")
            else:
                out.print(f"[red]✗[/] {r.instance}: {r.error}")
    if not all(r.ok for r in reports):
        raise typer.Exit(EXIT_FAILED)


def trigger(
    uri: Annotated[str, typer.Argument(help="job URI, e.g. cron://hosts/backup")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE (repeatable)")] = None,
    wait: Annotated[bool, typer.Option(help="wait until the run ends; exit 1 unless it succeeded")] = False,
    timeout: Annotated[float | None, typer.Option(help="seconds to wait at most")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Start a run of a job now, in whatever tool runs it.

    A job under an ApprovalPolicy does not start: an approval request waits for
    `unifier approve` (printed, and in `unifier approvals`)."""
    params = parse_params(param)
    ops = client()

    async def trigger_then_wait() -> TriggerOutcome:  # one event loop: an adapter may watch its run in-process
        outcome = await ops.trigger(uri, params)
        if outcome.approval is not None:
            if output != Format.json:
                out.print(f"approval request {outcome.approval.id} for {uri}: awaiting approval "
                          f"(policy {outcome.approval.policy}, expires {when(outcome.approval.expires_at)})")
            return outcome
        run = outcome.run
        assert run is not None
        if output != Format.json:
            out.print(f"triggered {uri} run {run.run_id} ({state_text(run.state)})")
        if wait:
            with progress(f"waiting for {run.run_id}…"):
                run = await _wait(ops, run, timeout)
            if output != Format.json:
                out.print(f"run {run.run_id} {state_text(run.state)}")
        return TriggerOutcome(run=run)

    outcome = asyncio.run(trigger_then_wait())
    if output == Format.json:
        print_json(outcome.run if outcome.run is not None else outcome.approval.to_json())  # type: ignore[union-attr]
    if wait and (outcome.run is None or outcome.run.state != RunState.SUCCEEDED):
        raise typer.Exit(EXIT_FAILED)


async def _wait(ops: Client, run: Run, seconds: float | None, interval: float = 1.0) -> Run:
    """Ask for the run's state until it ends (or ``seconds`` pass)."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while not run.state.terminal:
        if deadline is not None and time.monotonic() > deadline:
            break
        await asyncio.sleep(interval)
        run = await ops.refresh_run(run.job, run.run_id)
    return run


def cancel(
    uri: Annotated[str, typer.Argument(help="job URI")],
    run_id: Annotated[str, typer.Argument(help="the run's id")],
) -> None:
    """Cancel a run where the tool allows it."""
    asyncio.run(client().cancel(uri, run_id))
    err.print(f"cancel requested for {uri} run {run_id}")


def logs(
    uri: Annotated[str, typer.Argument(help="job URI")],
    run_id: Annotated[str, typer.Argument(help="the run's id")],
) -> None:
    """Print a run's log, fetched from the tool."""
    text = asyncio.run(client().logs(uri, run_id))
    out.file.write(text if text.endswith("\n") else text + "\n")
