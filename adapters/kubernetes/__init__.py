"""The Kubernetes adapter plugin: CronJobs are jobs, the Jobs they create are runs.

This module only registers the adapter; it imports nothing but pydantic, so unifier
lists and validates ``adapter: kubernetes`` instances even where the ``kubernetes``
client is not installed (``pip install 'unifier[kubernetes]'``).
"""

from __future__ import annotations

from typing import Any

from unifier.adapters.kubernetes.settings import KubernetesSettings
from unifier.hookspecs import hookimpl


@hookimpl
def unifier_register_adapters(register: Any) -> None:
    register.add_adapter(
        kind="kubernetes",
        settings=KubernetesSettings,
        implementation="unifier.adapters.kubernetes.adapter:KubernetesAdapter",
        extra="kubernetes",
        description="Kubernetes CronJobs (and labelled Jobs); runs are batch/v1 Jobs",
    )
