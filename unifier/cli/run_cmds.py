"""run, serve, triggers, firings, pause, resume: the control loop and its triggers."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from unifier.cli.client import client
from unifier.cli.output import (
    EXIT_USAGE,
    Format,
    OutputOption,
    err,
    fail,
    open_catalog,
    out,
    print_json,
    table,
    when,
)
from unifier.logs import LogFormat, configure_logging

ListenOption = Annotated[str, typer.Option(help="HOST:PORT of the API and webhooks; an address other "
                                                "than loopback needs authentication configured")]
LogFormatOption = Annotated[LogFormat, typer.Option("--log-format",
                                                    help="text, or json: one JSON object per line")]
TlsCertOption = Annotated[Path | None, typer.Option("--tls-cert", help="serve HTTPS with this certificate (PEM)")]
TlsKeyOption = Annotated[Path | None, typer.Option("--tls-key", help="the certificate's private key (PEM)")]


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(serve)
    app.command()(triggers)
    app.command()(firings)
    app.command()(leader)
    app.command()(pause)
    app.command()(resume)


def run(
    interval: Annotated[float, typer.Option(help="longest pause between cycles, seconds "
                                                 "(instances sync on their own poll_interval)")] = 1.0,
    listen: ListenOption = "127.0.0.1:8765",
    no_listen: Annotated[bool, typer.Option("--no-listen", help="no API, no webhooks")] = False,
    cycles: Annotated[int | None, typer.Option(help="stop after this many cycles as leader")] = None,
    replica_id: Annotated[str | None, typer.Option(help="this replica's name (default HOST:PID)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    log_format: LogFormatOption = LogFormat.text,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
) -> None:
    """Run the control loop in the foreground: sync, evaluate triggers, fire; until SIGTERM.

    Several `unifier run` on one PostgreSQL catalog: one leads the loop, the others stand
    by and serve the API (see `unifier leader`)."""
    from pydantic import ValidationError

    from unifier.api.serving import ServeOptions
    from unifier.leader import LeaderSettings
    from unifier.reconciler import run_forever

    options = ServeOptions(tls_cert, tls_key)
    configure_logging(verbose=verbose, fmt=log_format)
    try:
        settings = LeaderSettings() if replica_id is None else LeaderSettings(replica_id=replica_id)
    except ValidationError as exc:
        raise fail(f"--replica-id: {exc.errors()[0]['msg']}", EXIT_USAGE) from None
    catalog = open_catalog()
    asyncio.run(run_forever(catalog, interval=interval, listen=None if no_listen else listen,
                            cycles=cycles, leader=settings, serve=options))


def serve(listen: ListenOption = "127.0.0.1:8765", log_format: LogFormatOption = LogFormat.text,
          tls_cert: TlsCertOption = None, tls_key: TlsKeyOption = None) -> None:
    """Serve the HTTP API only (no control loop: webhooks are accepted and do nothing)."""
    from unifier.api.server import run_api_only
    from unifier.api.serving import ServeOptions

    options = ServeOptions(tls_cert, tls_key)
    configure_logging(fmt=log_format)
    asyncio.run(run_api_only(open_catalog(), listen, options))


def leader(output: OutputOption = Format.table) -> None:
    """Which replica of `unifier run` leads the control loop, since when, its last heartbeat."""
    info = client().leader()
    if output == Format.json:
        print_json(info.as_dict() if info else None)
        return
    if info is None:
        out.print("no replica has led yet (start `unifier run`)")
        return
    table(["LEADER", "EPOCH", "SINCE", "HEARTBEAT"],
          [(info.holder, str(info.epoch), _ago(info.acquired_at), _ago(info.renewed_at))])


def _ago(at: datetime) -> str:
    return f"{at.isoformat(timespec='seconds')} ({when(at)})"


def triggers(output: OutputOption = Format.table) -> None:
    """List triggers: what each waits for, what it runs, whether it is paused and why."""
    items = client().trigger_rows()
    if output == Format.json:
        print_json(items)
        return
    rows = []
    for t in items:
        mode = "all" if "all" in t["spec"]["when"] else "any"
        rows.append([t["name"], f"{mode}: " + ", ".join(t["upstream"]), ", ".join(t["downstream"]),
                     f"paused: {t['paused_reason']}" if t["paused"] else "active"])
    table(["TRIGGER", "WHEN", "THEN", "STATE"], rows)


def firings(
    trigger: Annotated[str | None, typer.Argument(help="only this trigger's")] = None,
    status: Annotated[str | None, typer.Option(help="pending, issued, failed, awaiting_approval, rejected "
                                                    "or expired")] = None,
    limit: Annotated[int, typer.Option(help="newest N")] = 50,
    output: OutputOption = Format.table,
) -> None:
    """The firing ledger, newest first: upstream runs in, downstream runs out."""
    items = client().firing_rows(trigger, status=status, limit=limit)
    if output == Format.json:
        print_json(items)
        return
    rows = []
    for f in items:
        upstream = ", ".join(f"{k['job']}#{k['run_id']}" for k in f["upstream_runs"])
        downstream = ", ".join(f"{a['job']}#{a['run_id']}" for a in f["actions"] if a.get("run_id")) or "-"
        status_text = f["status"] if not f["error"] else f"{f['status']}: {f['error']}"
        rows.append([f["id"], f["trigger"], when(datetime.fromisoformat(f["created_at"])), upstream, downstream,
                     status_text])
    table(["FIRING", "TRIGGER", "AT", "UPSTREAM", "DOWNSTREAM", "STATUS"], rows)


def pause(
    name: Annotated[str, typer.Argument(help="trigger name")],
    reason: Annotated[str, typer.Option(help="why, shown by `unifier triggers`")] = "paused by hand",
) -> None:
    """Stop a trigger from firing until `unifier resume` (runs meanwhile are not fired for)."""
    client().pause(name, reason)
    err.print(f"trigger/{name} paused")


def resume(name: Annotated[str, typer.Argument(help="trigger name")]) -> None:
    """Resume a trigger paused by hand or by the storm guard."""
    result = client().resume(name)
    if result["resumed"]:
        out.print(f"trigger/{name} resumed (was {result['was']})")
    elif result["paused"]:
        out.print(f"trigger/{name} is {result['was']}: change the spec and apply it")
    else:
        out.print(f"trigger/{name} was not paused")
