"""Building a live adapter for a configured instance.

The catalog keeps an instance's spec as written; here its secret references are
resolved (in memory only) and its settings validated, then the adapter class is
loaded from its plugin.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError

from unifier import secrets
from unifier.adapter import Adapter
from unifier.catalog import StoredInstance
from unifier.config.documents import InstanceSpec
from unifier.duration import parse_duration
from unifier.errors import PluginError, SecretError
from unifier.plugins import adapter_registry


def instance_spec(stored: StoredInstance) -> InstanceSpec:
    raw = {k: v for k, v in stored.spec.items() if k in InstanceSpec.model_fields}
    raw.setdefault("adapter", stored.instance.kind)
    return InstanceSpec.model_validate(raw)


def poll_interval(stored: StoredInstance) -> timedelta:
    """How often the control loop syncs this instance: ``spec.config.poll_interval``
    where the adapter's settings offer one (Airflow, Kubernetes, Jenkins), else
    ``spec.poll_interval`` (default 30 s)."""
    configured = (stored.spec.get("config") or {}).get("poll_interval")
    if configured is not None and "poll_interval" not in stored.spec:
        return parse_duration(configured)
    return instance_spec(stored).poll_interval


def build_adapter(stored: StoredInstance) -> Adapter:
    """An adapter object for ``stored``, with its secrets resolved now."""
    name = stored.instance.name
    spec = adapter_registry().get(stored.instance.kind)
    cls = spec.load()
    raw_config = stored.spec.get("config") or {}
    try:
        with secrets.resolved_context():
            settings = spec.settings.model_validate(
                secrets.resolve(raw_config), context={"base_dir": stored.spec.get("base_dir")})
    except SecretError as exc:
        raise SecretError(f"instance {name}: {exc}") from None
    except ValidationError as exc:
        raise PluginError(f"instance {name}: stored settings no longer valid for the "
                          f"{spec.kind} adapter (re-apply its file): {exc}") from None
    return cls(name, settings)
