"""The cron adapter plugin: crontab entries are jobs, ``unifier exec`` records their runs.

Registers the ``cron`` adapter kind and the commands ``unifier exec`` (the wrapper, a
fast command: it runs without building the CLI) and ``unifier cron wrap|unwrap``.
Importing this module needs only pydantic-free core modules; settings, adapter and CLI
are imported when used.
"""

from __future__ import annotations

from unifier.hookspecs import hookimpl
from unifier.plugins import AdapterRegistry, AdapterSpec, CommandRegistry

# The one declaration of this adapter kind: the registry reads it, and CronAdapter takes
# its kind and settings model from it.
ADAPTER = AdapterSpec(
    kind="cron",
    settings_path="unifier.adapters.cron.settings:CronSettings",
    implementation="unifier.adapters.cron.adapter:CronAdapter",
    extra=None,
    description="crontab files: entries are jobs; runs recorded by `unifier exec`",
)


@hookimpl
def unifier_register_adapters(register: AdapterRegistry) -> None:
    register.add(ADAPTER)


@hookimpl
def unifier_cli_commands(register: CommandRegistry) -> None:
    # cron starts `unifier exec` every minute on every host: it runs before the CLI is built
    register.add_fast_command("exec", "unifier.adapters.cron.wrapper:main")
    register.add_commands("unifier.adapters.cron.cli:add_commands")
