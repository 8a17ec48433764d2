"""The Kubernetes adapter plugin: CronJobs are jobs, the Jobs they create are runs.

This module only registers the adapter; it imports nothing but pydantic, so unifier
lists and validates ``adapter: kubernetes`` instances even where the ``kubernetes``
client is not installed (``pip install 'unifier[kubernetes]'``).
"""

from __future__ import annotations

from unifier.hookspecs import hookimpl
from unifier.plugins import AdapterRegistry, AdapterSpec

# The one declaration of this adapter kind: the registry reads it, and KubernetesAdapter takes
# its kind and settings model from it.
ADAPTER = AdapterSpec(
    kind="kubernetes",
    settings_path="unifier.adapters.kubernetes.settings:KubernetesSettings",
    implementation="unifier.adapters.kubernetes.adapter:KubernetesAdapter",
    extra="kubernetes",
    description="Kubernetes CronJobs (and labelled Jobs); runs are batch/v1 Jobs",
)


@hookimpl
def unifier_register_adapters(register: AdapterRegistry) -> None:
    register.add(ADAPTER)
