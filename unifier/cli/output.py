"""How the CLI speaks: tables for people, ``-o json`` for programs, errors on stderr.

Exit codes: 0 ok, 1 the operation failed, 2 usage or input error.
"""

from __future__ import annotations

import enum
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.table import Table

from unifier.model import RunState, as_utc, utcnow

if TYPE_CHECKING:
    from unifier.catalog import Catalog

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

out = Console(highlight=False)
if not out.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
    out = Console(highlight=False, width=int(os.environ.get("COLUMNS", 200)))
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    wide = "wide"


OutputOption = Annotated[Format, typer.Option("--output", "-o", help="table, wide or json")]

STATE_STYLE = {
    RunState.SUCCEEDED: "green", RunState.FAILED: "red", RunState.RUNNING: "cyan",
    RunState.QUEUED: "yellow", RunState.CANCELLED: "magenta", RunState.SKIPPED: "dim",
    RunState.UNKNOWN: "dim",
}


class CommandCatalogs:
    """The catalogs one running command opened: :meth:`CommandLine.run
    <unifier.cli.app.CommandLine.run>` holds one for the command and closes them when it
    ends. (Typer's vendored click offers no public current context to hang them on.)"""

    def __init__(self) -> None:
        self.opened: list[Catalog] = []

    def __enter__(self) -> CommandCatalogs:
        self._token = _running.set(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        _running.reset(self._token)
        while self.opened:
            self.opened.pop().close()


# The running command's catalogs: a context variable, so two commands run in one process
# (tests, threads) never share or close each other's.
_running: ContextVar[CommandCatalogs | None] = ContextVar("unifier_command_catalogs", default=None)


def open_catalog() -> Catalog:
    """The catalog for this command, closed when the command ends (outside a command, the
    caller owns it)."""
    from unifier.catalog import Catalog

    catalog = Catalog.open()
    running = _running.get()
    if running is not None:
        running.opened.append(catalog)
    return catalog


def print_json(value: Any) -> None:
    """Models, dicts and lists as JSON; datetimes in ISO 8601, as the HTTP API writes them."""
    sys.stdout.write(json.dumps(to_jsonable_python(value), indent=2) + "\n")


def when(value: datetime | None, now: datetime | None = None) -> str:
    """Short, relative, readable: ``3m ago``, ``in 2h``."""
    if value is None:
        return "-"
    now = now or utcnow()
    delta = (as_utc(value) - now).total_seconds()
    amount = abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if amount >= size or unit == "s":
            text = f"{int(amount // size)}{unit}"
            break
    return f"in {text}" if delta > 0 else f"{text} ago"


def state_text(state: RunState | None) -> str:
    if state is None:
        return "[dim]never ran[/]"
    return f"[{STATE_STYLE[state]}]{state.value}[/]"


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    grid = Table(title=title, show_edge=False, header_style="bold", pad_edge=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("-" if v is None else str(v) for v in row))
    out.print(grid)


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", markup=True)
    return typer.Exit(code)


@contextmanager
def progress(message: str, enabled: bool = True) -> Iterator[None]:
    """A spinner on stderr while something long runs (silent when not a terminal)."""
    if enabled and err.is_terminal:
        with err.status(message):
            yield
    else:
        yield


def parse_params(values: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="-p/--param")
        params[key] = value
    return params
