"""The cron adapter plugin: crontab entries are jobs, ``unifier exec`` records their runs.

Registers the ``cron`` adapter kind and the commands ``unifier exec`` (the wrapper)
and ``unifier cron wrap|unwrap``. Importing this module needs only pydantic-free core
modules; settings, adapter and CLI are imported when used.
"""

from __future__ import annotations

from typing import Any

from unifier.hookspecs import hookimpl


@hookimpl
def unifier_register_adapters(register: Any) -> None:
    from unifier.adapters.cron.settings import CronSettings

    register.add_adapter(
        kind="cron",
        settings=CronSettings,
        implementation="unifier.adapters.cron.adapter:CronAdapter",
        extra=None,
        description="crontab files: entries are jobs; runs recorded by `unifier exec`",
    )


@hookimpl
def unifier_add_commands(app: Any) -> None:
    from unifier.adapters.cron.cli import add_commands

    add_commands(app)
