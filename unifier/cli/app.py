"""The ``unifier`` command line as an object: :class:`CommandLine` owns one process's
CLI, its plugins and the Typer application built from them.

Core commands live in the modules listed in :data:`COMMAND_MODULES`; plugins, the
built-in adapters included, add theirs through the ``unifier_cli_commands`` hook (the
cron adapter's ``exec`` and ``cron wrap``).
"""

from __future__ import annotations

import importlib
import sys
from functools import cached_property
from typing import Annotated

import typer

from unifier.cli.output import EXIT_FAILED, EXIT_USAGE, CommandCatalogs, err
from unifier.errors import ConfigError, InvalidInput, NotFound, UnifierError
from unifier.plugins import PluginManager, installed_plugins

COMMAND_MODULES = (
    "unifier.cli.config_cmds",
    "unifier.cli.view_cmds",
    "unifier.cli.action_cmds",
    "unifier.cli.run_cmds",
    "unifier.cli.graph_cmds",
    "unifier.cli.mcp_cmds",
    "unifier.cli.zone_cmds",
    "unifier.cli.governance_cmds",
)


def _connect(
    ctx: typer.Context,
    server: Annotated[str | None, typer.Option(
        "--server", envvar="UNIFIER_SERVER", show_envvar=True,
        help="URL of a unifier server: every read and act command goes through its API")] = None,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="UNIFIER_TOKEN", show_envvar=True, show_default=False,
        help="API token (or OIDC token) for --server")] = None,
) -> None:
    """One control plane over the schedulers you already run."""
    from unifier.cli.client import Connection

    ctx.obj = Connection(server or None, token or None)


class CommandLine:
    """The CLI over one set of plugins (the installed ones unless given)."""

    def __init__(self, plugins: PluginManager | None = None):
        self.plugins = plugins if plugins is not None else installed_plugins()

    @cached_property
    def app(self) -> typer.Typer:
        """The root app with every core and plugin command (built on first use)."""
        app = typer.Typer(
            name="unifier",
            help="One control plane over the schedulers you already run.",
            no_args_is_help=True,
            add_completion=False,
            pretty_exceptions_enable=False,
            rich_markup_mode="rich",
            context_settings={"help_option_names": ["-h", "--help"]},
        )
        app.callback()(_connect)
        for name in COMMAND_MODULES:
            importlib.import_module(name).register(app)
        self.plugins.cli_commands.add_to(app, warn=lambda text: print(f"warning: {text}", file=sys.stderr))
        return app

    def run(self, args: list[str]) -> int:
        """Run ``unifier ARGS...``; the exit code (0 ok, 1 failed, 2 bad input)."""
        fast = self.plugins.cli_commands.fast_command(args[0]) if args else None
        if fast is not None:
            return fast(args[1:])
        try:
            with CommandCatalogs():
                self.app(args, prog_name="unifier", standalone_mode=True)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_FAILED)
        except ConfigError as exc:
            for problem in exc.problems:
                err.print(str(problem), markup=False, highlight=False)
            err.print(f"[red]refused:[/] {len(exc.problems)} problem(s); nothing was applied")
            return EXIT_USAGE
        except (NotFound, InvalidInput) as exc:
            err.print(f"[red]error:[/] {exc}")
            return EXIT_USAGE
        except UnifierError as exc:
            err.print(f"[red]error:[/] {exc}")
            return EXIT_FAILED
        except KeyboardInterrupt:
            return 130
        return 0
