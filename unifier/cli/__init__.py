"""The ``unifier`` command line.

Core commands live in the modules listed in :data:`COMMAND_MODULES`; plugins add
theirs through the ``unifier_add_commands`` hook (the cron adapter's ``exec``).
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from unifier.cli.output import EXIT_FAILED, EXIT_USAGE, close_catalogs, err
from unifier.errors import ConfigError, InvalidInput, NotFound, UnifierError

COMMAND_MODULES = (
    "unifier.cli.config_cmds",
    "unifier.cli.view_cmds",
    "unifier.cli.action_cmds",
    "unifier.cli.run_cmds",
    "unifier.cli.graph_cmds",
    "unifier.cli.governance_cmds",
)

app = typer.Typer(
    name="unifier",
    help="One control plane over the schedulers you already run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
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


_built = False


def build_app() -> typer.Typer:
    """The root app with every core and plugin command (registered once per process)."""
    global _built
    from unifier.plugins import add_plugin_commands

    if not _built:
        for name in COMMAND_MODULES:
            importlib.import_module(name).register(app)
        add_plugin_commands(app)
        _built = True
    return app


def main() -> None:
    if sys.argv[1:2] == ["exec"]:
        # cron runs the wrapper every minute on every host: skip building the whole CLI
        from unifier.adapters.cron.wrapper import main as exec_main

        sys.exit(exec_main(sys.argv[2:]))
    try:
        build_app()(standalone_mode=True)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, highlight=False)
        err.print(f"[red]refused:[/] {len(exc.problems)} problem(s); nothing was applied")
        sys.exit(EXIT_USAGE)
    except (NotFound, InvalidInput) as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)
    except UnifierError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        close_catalogs()
