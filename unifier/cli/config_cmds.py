"""validate, apply, schema: configuration files in, catalog out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from unifier.cli.client import client
from unifier.cli.output import EXIT_USAGE, Format, OutputOption, err, out, print_json
from unifier.config import file_schema
from unifier.plugins import adapter_registry

FilesOption = Annotated[
    list[Path], typer.Option("--filename", "-f", help="YAML file or directory (repeatable)")]


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command(name="apply")(apply_cmd)
    app.command()(schema)


def validate(files: FilesOption) -> None:
    """Check configuration files without touching the catalog."""
    documents = client().validate_files(files)
    for item in documents:
        out.print(f"{item['kind'].lower()}/{item['name']} valid ({item['location']})")
    err.print(f"[green]{len(documents)} document(s) valid[/]")


def apply_cmd(
    files: FilesOption,
    prune: Annotated[bool, typer.Option(help="delete what the files no longer name")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change, write nothing")] = False,
    output: OutputOption = Format.table,
) -> None:
    """Create, update or leave unchanged what the files declare (all or nothing)."""
    # the files are refused whole before the catalog is even opened; a cyclic trigger set
    # is refused as `unifier plan` does
    changes = client().apply_files(files, prune=prune, dry_run=dry_run)
    if output == Format.json:
        print_json(changes)
        return
    suffix = " (dry run)" if dry_run else ""
    for change in changes:
        out.print(f"{change['kind'].lower()}/{change['name']} {change['action']}{suffix}")


def schema(
    kind: Annotated[str | None, typer.Option(help="only the settings of this adapter")] = None,
) -> None:
    """Print the JSON Schema of the configuration file format."""
    registry = adapter_registry()
    if kind:
        if kind not in registry.adapters:
            err.print(f"unknown adapter {kind!r}")
            raise typer.Exit(EXIT_USAGE)
        print(json.dumps(registry.adapters[kind].settings.model_json_schema(), indent=2))
        return
    settings = {name: spec.settings for name, spec in registry.adapters.items()}
    print(json.dumps(file_schema(settings), indent=2))
