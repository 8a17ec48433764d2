"""zones, agent: tools in networks the control plane cannot connect into."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer

from unifier.cli.output import Format, OutputOption, fail, open_catalog, print_json, table, when
from unifier.model import NAME_RE


def register(app: typer.Typer) -> None:
    app.command()(zones)
    app.command()(agent)


def zones(output: OutputOption = Format.table) -> None:
    """Each zone: its active agent, its version, when it last called in, work waiting for it."""
    from unifier.zones.settings import ZoneSettings
    from unifier.zones.status import zone_rows

    rows = zone_rows(open_catalog(), lease_seconds=ZoneSettings.from_env().lease_seconds)
    if output == Format.json:
        print_json(rows)
        return
    table(["ZONE", "AGENT", "VERSION", "LAST CONTACT", "BACKLOG", "OLDEST WAITING", "INSTANCES", "STANDBY"],
          [(r.zone, r.agent or "[red]none[/]", r.version,
            when(r.last_contact_at) + (" [red](silent)[/]" if r.lease_expired and r.agent else ""),
            r.backlog, f"{r.oldest_waiting_seconds:.0f}s" if r.oldest_waiting_seconds is not None else None,
            ", ".join(r.instances), ", ".join(r.standby)) for r in rows])


def _version() -> str:
    try:
        return version("unifier")
    except PackageNotFoundError:
        return "unknown"


def agent(
    server: Annotated[str, typer.Option(help="the control plane's URL, e.g. https://unifier.example:8765")],
    zone: Annotated[str, typer.Option(help="the zone this agent serves (spec.zone of its instances)")],
    token: Annotated[str, typer.Option(envvar="UNIFIER_AGENT_TOKEN",
                                       help="API token sent as a bearer token "
                                            "(or set UNIFIER_AGENT_TOKEN)")],
    state_dir: Annotated[Path | None, typer.Option(
        help="where the outbox and received work are kept (default $UNIFIER_HOME/agent/ZONE)")] = None,
    name: Annotated[str | None, typer.Option(help="shown by `unifier zones` (default: host name)")] = None,
    pull_wait: Annotated[float, typer.Option(help="seconds one pull may wait for work")] = 20.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve a zone from inside it: connects only outward to --server, never listens."""
    from unifier.home import unifier_home
    from unifier.zones.agent.runner import Agent, AgentOptions

    if not NAME_RE.match(zone):
        raise fail(f"--zone {zone!r}: lower-case letters, digits and '-'", code=2)
    if not server.startswith(("http://", "https://")):
        raise fail(f"--server {server!r}: expected an http:// or https:// URL", code=2)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    options = AgentOptions(server=server, token=token, zone=zone,
                           state_dir=state_dir or unifier_home() / "agent" / zone,
                           name=name or socket.gethostname(), version=_version(), pull_wait=pull_wait)

    async def main() -> None:
        runner = Agent(options)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        logging.getLogger("unifier.agent").info("agent %s (%s) for zone %s, state in %s",
                                                 options.name, runner.agent_id, zone, options.state_dir)
        await runner.run()

    asyncio.run(main())
