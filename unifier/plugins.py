"""Loading plugins: the adapter registry and the CLI commands plugins add.

Every adapter, built-in or third-party, arrives through the ``unifier.adapters``
entry-point group. ``UNIFIER_PLUGINS`` (comma-separated entry-point names) restricts
which are loaded, for debugging a broken third-party plugin.

A :class:`PluginManager` owns what it loaded; the CLI and the app each hold one
(:func:`installed_plugins` is the manager of the installed entry points, loaded once
per process, for code that has no owner to ask).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from unifier import hookspecs
from unifier.errors import PluginError

if TYPE_CHECKING:
    import typer
    from pydantic import BaseModel

    from unifier.adapter import Adapter

ENTRY_POINT_GROUP = "unifier.adapters"


def import_object(path: str) -> Any:
    """``"package.module:attribute"`` imported; ImportError propagates."""
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@dataclass
class AdapterSpec:
    """One adapter kind, declared once (in the plugin's light module) and read by both
    the registry and the adapter class, which takes its ``kind`` and ``settings_model``
    from here. ``settings`` may be the model or its ``"module:Class"`` path (imported on
    first use); ``implementation`` is always a path, imported only when an instance of
    the kind is used, so a plugin whose client library is missing still lists and
    validates configuration."""

    kind: str
    settings_path: str | type[BaseModel]
    implementation: str  # "package.module:Class"
    extra: str | None = None
    description: str = ""
    source: str = ""  # "unifier 0.1.0 (entry point cron)", filled in by the registry

    @cached_property
    def settings(self) -> type[BaseModel]:
        if isinstance(self.settings_path, str):
            return import_object(self.settings_path)
        return self.settings_path

    def load(self) -> type[Adapter]:
        try:
            cls: type[Adapter] = import_object(self.implementation)
        except ImportError as exc:
            hint = f"pip install 'unifier[{self.extra}]'" if self.extra else "reinstall the plugin"
            raise PluginError(
                f"the {self.kind} adapter cannot load ({exc}); install its extra: {hint}"
            ) from exc
        declared = (getattr(cls, "kind", None), getattr(cls, "settings_model", None))
        if declared != (self.kind, self.settings):
            raise PluginError(
                f"{self.implementation} declares kind {declared[0]!r} with settings "
                f"{getattr(declared[1], '__name__', declared[1])}, but {self.source or 'its plugin'} "
                f"registered it as {self.kind!r} with {self.settings.__name__}: take both from "
                "the plugin's AdapterSpec")
        return cls

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
    # plugins that failed to load or register: name -> reason (shared with the manager)
    broken: dict[str, str] = field(default_factory=dict)
    _current_source: str = ""

    def add(self, spec: AdapterSpec) -> None:
        if spec.kind in self.adapters:
            raise PluginError(
                f"adapter kind {spec.kind!r} registered twice: by {self.adapters[spec.kind].source} "
                f"and by {self._current_source}"
            )
        # a copy: the plugin's declaration is module data, shared by every manager
        self.adapters[spec.kind] = dataclasses.replace(spec, source=self._current_source)

    def add_adapter(self, *, kind: str, settings: str | type[BaseModel], implementation: str,
                    extra: str | None = None, description: str = "") -> None:
        """:meth:`add` with the fields of an :class:`AdapterSpec` as keywords."""
        self.add(AdapterSpec(kind=kind, settings_path=settings, implementation=implementation,
                             extra=extra, description=description))

    def get(self, kind: str) -> AdapterSpec:
        try:
            return self.adapters[kind]
        except KeyError:
            known = ", ".join(sorted(self.adapters)) or "none"
            broken = self.broken.get(kind)
            if broken:
                raise PluginError(f"the {kind} adapter plugin is broken: {broken}") from None
            raise PluginError(f"unknown adapter {kind!r} (installed: {known})") from None


@dataclass
class CommandRegistry:
    """Handed to ``unifier_cli_commands``. Commands are named by ``"module:function"``
    paths, imported only when used, so starting the CLI imports no plugin's CLI code."""

    # functions that add commands to the root Typer app: function(app)
    adders: list[tuple[str, str]] = field(default_factory=list)  # (path, source)
    # commands run before the CLI is built: name -> (path of function(argv) -> int, source)
    fast: dict[str, tuple[str, str]] = field(default_factory=dict)
    _current_source: str = ""

    def add_commands(self, path: str) -> None:
        self.adders.append((path, self._current_source))

    def add_fast_command(self, name: str, path: str) -> None:
        if name in self.fast:
            raise PluginError(f"fast command {name!r} registered twice: by {self.fast[name][1]} "
                              f"and by {self._current_source}")
        self.fast[name] = (path, self._current_source)

    def fast_command(self, name: str) -> Callable[[list[str]], int] | None:
        entry = self.fast.get(name)
        return import_object(entry[0]) if entry else None

    def add_to(self, app: typer.Typer, warn: Callable[[str], None]) -> None:
        """Every plugin's commands on ``app``; one failing plugin is reported through
        ``warn`` and skipped, so the other commands keep working."""
        for path, source in self.adders:
            try:
                import_object(path)(app)
            except Exception as exc:
                warn(f"plugin {source} could not add its commands: {type(exc).__name__}: {exc}")


class PluginManager:
    """A typed wrapper around pluggy's manager; each instance owns its own plugins."""

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
        """Add a plugin (tests add theirs at run time); registries built before are
        extended with what it registers."""
        self._pm.register(plugin, name=name)
        self._sources[name] = source or name
        if "adapters" in self.__dict__:
            self._collect("unifier_register_adapters", self.adapters, only=name)
        if "cli_commands" in self.__dict__:
            self._collect("unifier_cli_commands", self.cli_commands, only=name)

    @cached_property
    def adapters(self) -> AdapterRegistry:
        registry = AdapterRegistry(broken=self.broken)
        self._collect("unifier_register_adapters", registry)
        return registry

    @cached_property
    def cli_commands(self) -> CommandRegistry:
        registry = CommandRegistry()
        self._collect("unifier_cli_commands", registry)
        return registry

    def _collect(self, hook: str, registry: AdapterRegistry | CommandRegistry,
                 only: str | None = None) -> None:
        """Call every plugin's ``hook`` with ``registry``; a plugin that raises is
        recorded in :attr:`broken`, except for a name collision (the host's business)."""
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            if only is not None and impl.plugin_name != only:
                continue
            registry._current_source = self._sources.get(impl.plugin_name, impl.plugin_name)
            try:
                impl.function(register=registry)
            except PluginError:
                raise
            except Exception as exc:  # one broken plugin must not break every command
                self.broken[impl.plugin_name] = f"{hook} failed: {type(exc).__name__}: {exc}"


@functools.cache
def installed_plugins() -> PluginManager:
    """The manager of the installed entry points, loaded once per process."""
    manager = PluginManager()
    manager.load_entry_points()
    return manager


def adapter_registry() -> AdapterRegistry:
    return installed_plugins().adapters


# the name callers used before the manager had an owner
get_plugin_manager = installed_plugins
