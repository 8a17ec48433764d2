"""Plugins: a broken one is reported and skipped; the others keep working."""

from __future__ import annotations

import types

from unifier.hookspecs import hookimpl
from unifier.plugins import PluginManager


def test_a_plugin_whose_registration_fails_is_reported_not_fatal():
    broken = types.ModuleType("broken_plugin")

    @hookimpl
    def unifier_register_adapters(register):
        raise RuntimeError("boom at import of its settings")

    broken.unifier_register_adapters = unifier_register_adapters
    manager = PluginManager()
    manager.load_entry_points()
    manager.register(broken, "broken", source="a test")
    registry = manager.adapters
    assert {"cron", "terraform"} <= set(registry.adapters)  # the built-ins still load
    assert "boom at import of its settings" in manager.broken["broken"]
