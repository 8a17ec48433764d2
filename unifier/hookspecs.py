"""Hook specifications: what a unifier plugin may implement.

A plugin is a module (or object) registered under the ``unifier.adapters`` entry-point
group. The built-in adapters are plugins of exactly that kind, listed in unifier's own
``pyproject.toml``; a third party ships one with ``pip install`` and no change here::

    [project.entry-points."unifier.adapters"]
    mytool = "unifier_mytool"

and in ``unifier_mytool/__init__.py`` (a light module: it must import without the
tool's client library)::

    from unifier.hookspecs import hookimpl
    from unifier.plugins import AdapterSpec

    ADAPTER = AdapterSpec(
        kind="mytool",
        settings_path="unifier_mytool.settings:MyToolSettings",  # pydantic model of `spec.config`
        implementation="unifier_mytool.adapter:MyToolAdapter",
        extra=None,                       # or the pip extra that provides its client
    )

    @hookimpl
    def unifier_register_adapters(register):
        register.add(ADAPTER)

The adapter class takes its identity from that one declaration (``kind =
ADAPTER.kind``, ``settings_model = ADAPTER.settings``); loading an implementation that
disagrees with its registration is a :class:`~unifier.errors.PluginError`.

Hooks receive a ``register`` object rather than returning lists, so the host decides
names and reports collisions (the pattern of tox and llm). Every hook is called once
per plugin manager; a plugin whose hook raises is reported by ``unifier adapters`` and
skipped, and the other plugins keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from unifier.plugins import AdapterRegistry, CommandRegistry

PROJECT = "unifier"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- adapters


@hookspec
def unifier_register_adapters(register: AdapterRegistry) -> None:
    """Register the adapters this plugin provides.

    :param register: call ``register.add(spec)`` once per adapter kind with its
        :class:`~unifier.plugins.AdapterSpec`. The implementation is imported only
        when an instance of that kind is used, so a plugin whose client library is
        missing still lists, validates configuration, and fails with the name of the
        extra to install when it is actually used.

    All plugins are called; the return value is ignored. Registering a kind that
    another plugin already registered raises :class:`~unifier.errors.PluginError`.
    """


# --------------------------------------------------------------------------- CLI


@hookspec
def unifier_cli_commands(register: CommandRegistry) -> None:
    """Add commands to the ``unifier`` CLI (the cron adapter adds ``unifier exec`` and
    ``unifier cron wrap|unwrap`` this way; core commands get no special treatment).

    :param register: the plugin's commands, named by ``"module:function"`` paths so
        that starting the CLI imports none of a plugin's CLI code:

        * ``register.add_commands("pkg.cli:add_commands")``: ``add_commands(app)``
          receives the root Typer application when the CLI is built, and adds
          commands (``app.command()``) or groups (``app.add_typer(sub, name="x")``).
        * ``register.add_fast_command("name", "pkg.wrapper:main")``: ``unifier name
          ARGS...`` calls ``main(ARGS)`` and exits with the ``int`` it returns, before
          the CLI is built. For a command another scheduler starts often, where building
          the whole CLI would cost more than the command. Register a Typer twin with
          ``add_commands`` as well for ``--help`` to list it.

    All plugins are called once, when the CLI starts; the return value is ignored. Two
    plugins registering the same fast command raise :class:`~unifier.errors.PluginError`.
    """
