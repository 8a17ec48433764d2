"""The Jenkins adapter plugin: every job of a controller is a job, its builds are runs.

This module only registers the adapter; it imports nothing but pydantic, so unifier
lists and validates ``adapter: jenkins`` instances even where ``python-jenkins`` is not
installed (``pip install 'unifier[jenkins]'``).
"""

from __future__ import annotations

from typing import Any

from unifier.hookspecs import hookimpl


@hookimpl
def unifier_register_adapters(register: Any) -> None:
    from unifier.adapters.jenkins.settings import JenkinsSettings

    register.add_adapter(
        kind="jenkins",
        settings=JenkinsSettings,
        implementation="unifier.adapters.jenkins.adapter:JenkinsAdapter",
        extra="jenkins",
        description="Jenkins (JSON API): jobs in folders, builds, trigger, cancel, console logs, "
        "timer specs with H",
    )
