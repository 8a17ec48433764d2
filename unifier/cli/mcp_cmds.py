"""mcp: serve AI agents over the Model Context Protocol on stdin/stdout."""

from __future__ import annotations

import getpass
import logging
import os
from typing import Annotated

import anyio
import typer

from unifier.cli.output import EXIT_USAGE, err, open_catalog


def register(app: typer.Typer) -> None:
    app.command()(mcp)


def _default_agent() -> str:
    try:
        return f"mcp:{getpass.getuser()}"
    except Exception:  # no passwd entry in some containers
        return "mcp:local"


ReadOnly = Annotated[bool, typer.Option("--read-only", help="serve read tools only: no request tool is listed")]
ScopeOption = Annotated[list[str] | None, typer.Option(
    "--scope", help="job URI pattern the agent may see, e.g. 'cron://team-a/*' (repeatable; default all)")]
AgentOption = Annotated[str | None, typer.Option(help="the agent's name in the audit (default mcp:USER)")]
ActingFor = Annotated[str | None, typer.Option(help="the person the agent acts for (recorded, not trusted)")]
ServerOption = Annotated[str | None, typer.Option(
    envvar="UNIFIER_SERVER", help="relay to this unifier server's /mcp instead of the local catalog")]
TokenOption = Annotated[str | None, typer.Option(envvar="UNIFIER_TOKEN", help="bearer token for --server")]


def mcp(
    read_only: ReadOnly = False,
    scope: ScopeOption = None,
    agent: AgentOption = None,
    acting_for: ActingFor = None,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Serve MCP on stdin/stdout for an AI agent (a desktop client starts this command).

    Local catalog by default, as the local user; with UNIFIER_SERVER (and UNIFIER_TOKEN)
    set, relay to that server's /mcp, where the token's identity and scope apply."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")  # stderr
    if server:
        if scope or read_only or agent or acting_for:
            err.print("[red]error:[/] with UNIFIER_SERVER the server decides the agent's identity, scope and "
                      "tools (from its token): drop --scope, --read-only, --agent and --acting-for")
            raise typer.Exit(EXIT_USAGE)
        from unifier.mcp.bridge import endpoint, relay

        anyio.run(relay, endpoint(server), token)
        return
    _serve_local(read_only, scope, agent or os.environ.get("UNIFIER_MCP_AGENT") or _default_agent(), acting_for)


def _serve_local(read_only: bool, patterns: list[str] | None, name: str, acting_for: str | None) -> None:
    from unifier.mcp import Agent, MCPSettings, Scope, create_mcp_server
    from unifier.mcp.audit import CatalogAudit
    from unifier.mcp.local import LocalControlPlane

    catalog = open_catalog()
    caller = Agent(name, Scope.of(patterns), acting_for)
    server = create_mcp_server(LocalControlPlane(lambda: catalog), identify=lambda request: caller,
                               audit=CatalogAudit(lambda: catalog), settings=MCPSettings(read_only=read_only))
    anyio.run(server.run_stdio_async)
