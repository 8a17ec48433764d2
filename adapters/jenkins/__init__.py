"""The Jenkins adapter plugin: every job of a controller is a job, its builds are runs.

This module only registers the adapter; it imports nothing but pydantic, so unifier
lists and validates ``adapter: jenkins`` instances even where ``python-jenkins`` is not
installed (``pip install 'unifier[jenkins]'``).
"""

from __future__ import annotations

from unifier.hookspecs import hookimpl
from unifier.plugins import AdapterRegistry, AdapterSpec

# The one declaration of this adapter kind: the registry reads it, and JenkinsAdapter takes
# its kind and settings model from it.
ADAPTER = AdapterSpec(
    kind="jenkins",
    settings_path="unifier.adapters.jenkins.settings:JenkinsSettings",
    implementation="unifier.adapters.jenkins.adapter:JenkinsAdapter",
    extra="jenkins",
    description="Jenkins (JSON API): jobs in folders, builds, trigger, cancel, console logs, "
    "timer specs with H",
)


@hookimpl
def unifier_register_adapters(register: AdapterRegistry) -> None:
    register.add(ADAPTER)
