"""The ``unifier`` command (:func:`main`, the console script).

A plugin's fast command (cron's ``unifier exec``, started every minute on every host)
runs before anything else is imported: this module and :mod:`unifier.plugins` are
light, and the CLI itself (:mod:`unifier.cli.app`: Typer, rich, every command module)
is imported only for the other commands.
"""

from __future__ import annotations

import sys


def main() -> None:
    from unifier.plugins import installed_plugins

    plugins = installed_plugins()
    args = sys.argv[1:]
    fast = plugins.cli_commands.fast_command(args[0]) if args else None
    if fast is not None:
        sys.exit(fast(args[1:]))
    from unifier.cli.app import CommandLine

    sys.exit(CommandLine(plugins).run(args))
