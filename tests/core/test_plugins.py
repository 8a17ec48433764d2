"""Plugins: a broken one is reported and skipped; the others keep working."""

from __future__ import annotations

import types

import pytest

from unifier.cli.app import CommandLine
from unifier.errors import PluginError
from unifier.hookspecs import hookimpl
from unifier.plugins import AdapterSpec, PluginManager, installed_plugins
from unifier.testing.fake import FakeAdapter, FakeSettings, register_fake_adapter


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


def _plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


class MisdeclaredAdapter(FakeAdapter):
    kind = "fake"  # registered below as "other": the two declarations disagree


def test_an_implementation_that_disagrees_with_its_registration_is_refused():
    manager = PluginManager()
    manager.register(_plugin("liar", unifier_register_adapters=lambda register: register.add(AdapterSpec(
        kind="other", settings_path=FakeSettings, implementation=f"{__name__}:MisdeclaredAdapter"))), "liar")
    spec = manager.adapters.get("other")
    with pytest.raises(PluginError, match="declares kind 'fake'.*registered it as 'other'"):
        spec.load()
    loads, why = spec.installed()
    assert not loads and "take both from the plugin's AdapterSpec" in why


def test_every_built_in_adapter_class_agrees_with_its_declaration():
    registry = installed_plugins().adapters
    for kind in ("cron", "terraform", "airflow", "kubernetes", "jenkins"):
        cls = registry.get(kind).load()
        assert (cls.kind, cls.settings_model) == (kind, registry.get(kind).settings)


def test_plugin_managers_do_not_share_plugins():
    one, two = PluginManager(), PluginManager()
    register_fake_adapter(one)
    assert "fake" in one.adapters.adapters
    assert "fake" not in two.adapters.adapters
    # a plugin registered after the registry was built extends it
    register_fake_adapter(two)
    assert two.adapters.get("fake").load() is FakeAdapter


def test_two_plugins_claiming_one_kind_is_an_error_naming_both():
    manager = PluginManager()
    for name in ("first", "second"):
        manager.register(_plugin(name, unifier_register_adapters=lambda register: register.add(AdapterSpec(
            kind="twin", settings_path=FakeSettings, implementation="x:y"))), name, source=f"plugin {name}")
    with pytest.raises(PluginError, match="'twin' registered twice: by plugin (first|second) and by plugin"):
        _ = manager.adapters


# ------------------------------------------------------------------ CLI commands


def hello_fast(argv: list[str]) -> int:
    print("fast:" + ",".join(argv))
    return 7


def add_hello(app) -> None:
    @app.command("hello")
    def hello(name: str) -> None:
        """Say hello."""
        print(f"hello {name}")


def add_broken(app) -> None:
    raise RuntimeError("its CLI module is broken")


def cli_plugin() -> types.ModuleType:
    def unifier_cli_commands(register):
        register.add_fast_command("hello-fast", f"{__name__}:hello_fast")
        register.add_commands(f"{__name__}:add_hello")
    return _plugin("greeter", unifier_cli_commands=unifier_cli_commands)


def test_a_plugin_adds_commands_and_a_fast_command_through_the_hook(capsys):
    manager = PluginManager()
    manager.register(cli_plugin(), "greeter")
    cli = CommandLine(manager)
    assert cli.run(["hello-fast", "a", "--b"]) == 7
    assert capsys.readouterr().out == "fast:a,--b\n"
    assert "app" not in cli.__dict__, "a fast command runs without building the CLI"
    assert cli.run(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"


def test_a_plugin_whose_commands_fail_is_reported_and_the_others_work(capsys):
    manager = PluginManager()
    manager.register(cli_plugin(), "greeter")
    manager.register(_plugin("broken-cli", unifier_cli_commands=lambda register: register.add_commands(
        f"{__name__}:add_broken")), "broken-cli", source="a broken plugin")
    assert CommandLine(manager).run(["hello", "you"]) == 0
    out = capsys.readouterr()
    assert out.out == "hello you\n"
    assert "a broken plugin could not add its commands: RuntimeError: its CLI module is broken" in out.err


def test_cron_registers_its_commands_like_any_plugin():
    commands = installed_plugins().cli_commands
    assert commands.fast["exec"][0] == "unifier.adapters.cron.wrapper:main"
    assert "entry point cron" in commands.fast["exec"][1]
    assert ("unifier.adapters.cron.cli:add_commands", commands.fast["exec"][1]) in commands.adders


def test_cli_apps_are_built_per_command_line():
    one, two = CommandLine(PluginManager()), CommandLine(PluginManager())
    assert one.app is not two.app
    assert one.app is one.app


def test_every_hook_documents_its_parameters_and_is_in_the_readme():
    import inspect
    from pathlib import Path

    from unifier import hookspecs

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    hooks = [f for name, f in vars(hookspecs).items() if name.startswith("unifier_") and callable(f)]
    assert {f.__name__ for f in hooks} == {"unifier_register_adapters", "unifier_cli_commands"}
    for hook in hooks:
        doc = inspect.getdoc(hook) or ""
        for parameter in inspect.signature(hook).parameters:
            assert f":param {parameter}:" in doc, f"{hook.__name__} does not document {parameter}"
        assert hook.__name__ in readme, f"{hook.__name__} is not in the README"
