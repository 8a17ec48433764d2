"""Hook specifications: what a unifier plugin may implement.

A plugin is a module (or object) registered under the ``unifier.adapters`` entry-point
group. The built-in adapters are plugins of exactly that kind, listed in unifier's own
``pyproject.toml``; a third party ships one with ``pip install`` and no change here::

    [project.entry-points."unifier.adapters"]
    mytool = "unifier_mytool"

and in ``unifier_mytool/__init__.py``::

    from unifier.hookspecs import hookimpl

    @hookimpl
    def unifier_register_adapters(register):
        register.add_adapter(
            kind="mytool",
            settings=MyToolSettings,          # pydantic model of `spec.config`
            implementation="unifier_mytool.adapter:MyToolAdapter",
            extra=None,                       # or the pip extra that provides its client
        )

Hooks receive a ``register`` object rather than returning lists, so the host decides
names and reports collisions (the pattern of tox and llm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from unifier.plugins import AdapterRegistry

PROJECT = "unifier"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- adapters


@hookspec
def unifier_register_adapters(register: AdapterRegistry) -> None:
    """Register the adapters this plugin provides.

    :param register: call ``register.add_adapter(kind=..., settings=...,
        implementation="module:Class", extra=...)`` once per adapter kind. The
        implementation is imported only when an instance of that kind is used, so a
        plugin whose client library is missing still lists, validates configuration,
        and fails with the name of the extra to install when it is actually used.

    All plugins are called; the return value is ignored. Registering a kind that
    another plugin already registered raises :class:`~unifier.errors.PluginError`.
    """


# --------------------------------------------------------------------------- CLI


@hookspec
def unifier_add_commands(app: typer.Typer) -> None:
    """Add commands to the ``unifier`` CLI (e.g. the cron adapter's ``unifier exec``
    wrapper and ``unifier cron wrap``).

    :param app: the root Typer application; add a command with ``app.command()`` or a
        group with ``app.add_typer(sub, name="cron")``.

    All plugins are called once, when the CLI starts; the return value is ignored.
    """
