"""Loading plugins and the adapter registry.

Every adapter, built-in or third-party, arrives through the ``unifier.adapters``
entry-point group. ``UNIFIER_PLUGINS`` (comma-separated entry-point names) restricts
which are loaded, for debugging a broken third-party plugin.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING

import pluggy
from pydantic import BaseModel

from unifier import hookspecs
from unifier.errors import PluginError

if TYPE_CHECKING:
    from unifier.adapter import Adapter

ENTRY_POINT_GROUP = "unifier.adapters"


@dataclass
class AdapterSpec:
    """One registered adapter kind. ``implementation`` is imported lazily."""

    kind: str
    settings: type[BaseModel]
    implementation: str  # "package.module:Class"
    extra: str | None = None
    description: str = ""
    source: str = ""  # "unifier 0.1.0 (entry point cron)", filled in by the registry

    def load(self) -> type[Adapter]:
        module_name, _, attr = self.implementation.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f"pip install 'unifier[{self.extra}]'" if self.extra else "reinstall the plugin"
            raise PluginError(
                f"the {self.kind} adapter cannot load ({exc}); install its extra: {hint}"
            ) from exc
        return getattr(module, attr)

    def installed(self) -> tuple[bool, str]:
        """(loads?, why not) without raising."""
        try:
            self.load()
        except PluginError as exc:
            return False, str(exc)
        return True, ""


@dataclass
class AdapterRegistry:
    """Handed to ``unifier_register_adapters``; the host owns names and collisions."""

    adapters: dict[str, AdapterSpec] = field(default_factory=dict)
    _current_source: str = ""

    def add_adapter(
        self,
        *,
        kind: str,
        settings: type[BaseModel],
        implementation: str,
        extra: str | None = None,
        description: str = "",
    ) -> None:
        if kind in self.adapters:
            raise PluginError(
                f"adapter kind {kind!r} registered twice: by {self.adapters[kind].source} "
                f"and by {self._current_source}"
            )
        self.adapters[kind] = AdapterSpec(
            kind=kind,
            settings=settings,
            implementation=implementation,
            extra=extra,
            description=description,
            source=self._current_source,
        )

    def get(self, kind: str) -> AdapterSpec:
        try:
            return self.adapters[kind]
        except KeyError:
            known = ", ".join(sorted(self.adapters)) or "none"
            broken = get_plugin_manager().broken.get(kind)
            if broken:
                raise PluginError(f"the {kind} adapter plugin is broken: {broken}") from None
            raise PluginError(f"unknown adapter {kind!r} (installed: {known})") from None


class PluginManager:
    """A typed wrapper around pluggy's manager that loads the entry-point group once."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._sources: dict[str, str] = {}
        # entry points that failed to import: name -> reason (shown by `unifier adapters`)
        self.broken: dict[str, str] = {}

    def load_entry_points(self) -> None:
        allow = os.environ.get("UNIFIER_PLUGINS")
        allowed = {name.strip() for name in allow.split(",")} if allow else None
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and ep.name not in allowed:
                continue
            if self._pm.get_plugin(ep.name) is not None:
                continue  # the same distribution seen twice on sys.path
            try:
                plugin = ep.load()
            except Exception as exc:  # one broken plugin must not break every command
                self.broken[ep.name] = f"{ep.value} failed to import: {type(exc).__name__}: {exc}"
                continue
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            self.register(plugin, ep.name, source=f"{dist} {version} (entry point {ep.name})")
        self._pm.check_pending()

    def register(self, plugin: ModuleType | object, name: str, source: str = "") -> None:
        self._pm.register(plugin, name=name)
        self._sources[name] = source or name

    @cached_property
    def adapters(self) -> AdapterRegistry:
        registry = AdapterRegistry()
        for impl in self._pm.hook.unifier_register_adapters.get_hookimpls():
            registry._current_source = self._sources.get(impl.plugin_name, impl.plugin_name)
            try:
                impl.function(register=registry)
            except PluginError:
                raise  # a name collision is the host's business: say it loudly
            except Exception as exc:  # one broken plugin must not break every command
                self.broken[impl.plugin_name] = (
                    f"registering its adapters failed: {type(exc).__name__}: {exc}")
        return registry


_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, loaded once on first use."""
    global _manager
    if _manager is None:
        manager = PluginManager()
        manager.load_entry_points()
        _manager = manager
    return _manager


def reset_plugin_manager() -> None:
    """Forget loaded plugins (tests that install a plugin at run time)."""
    global _manager
    _manager = None


def adapter_registry() -> AdapterRegistry:
    return get_plugin_manager().adapters


def add_plugin_commands(app: object) -> None:
    """Let every plugin add its commands to the CLI; one failing plugin is reported
    and skipped, so the other commands keep working."""
    import sys

    for impl in get_plugin_manager()._pm.hook.unifier_add_commands.get_hookimpls():
        try:
            impl.function(app=app)
        except Exception as exc:
            print(f"warning: plugin {impl.plugin_name!r} could not add its commands: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)
