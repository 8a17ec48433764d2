"""The distribution as a user installs it: a built wheel in a fresh virtual environment,
with no extras, plus the third-party adapter example from examples/custom_adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def sh(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(work / "dist"), str(ROOT))
    [wheel] = (work / "dist").glob("unifier-*.whl")
    sh(sys.executable, "-m", "venv", str(work / "venv"))
    py = work / "venv" / "bin" / "python"
    sh(str(py), "-m", "pip", "install", "-q", str(wheel))
    sh(str(py), "-m", "pip", "install", "-q", "--no-deps", str(ROOT / "examples" / "custom_adapter"))
    return work / "venv"


def test_wheel_adds_no_top_level_catalog_or_adapters_module(venv):
    py = str(venv / "bin" / "python")
    probe = "import importlib.util as u; print([m for m in ('catalog', 'adapters') if u.find_spec(m)])"
    assert sh(py, "-c", probe, cwd="/").stdout.strip() == "[]"
    sh(py, "-c", "import unifier.catalog, unifier.adapters.cron, unifier.adapters.terraform", cwd="/")
    top_level = {p.name for p in (venv / "lib").glob("python3*/site-packages/*")}
    assert "catalog" not in top_level and "adapters" not in top_level


def test_missing_extra_is_named(venv, tmp_path):
    listing = json.loads(sh(str(venv / "bin" / "unifier"), "adapters", "-o", "json", cwd="/").stdout)
    by_kind = {a["kind"]: a for a in listing}
    for kind in ("airflow", "kubernetes", "jenkins"):
        assert not by_kind[kind]["installed"]
        assert f"pip install 'unifier[{kind}]'" in by_kind[kind]["problem"]
    assert by_kind["cron"]["installed"] and by_kind["terraform"]["installed"]


def test_third_party_adapter_loads_through_the_entry_point(venv, tmp_path):
    unifier = str(venv / "bin" / "unifier")
    env = {**os.environ, "UNIFIER_HOME": str(tmp_path / "home")}
    env.pop("UNIFIER_DATABASE_URL", None)
    listing = json.loads(sh(unifier, "adapters", "-o", "json", env=env).stdout)
    [shell] = [a for a in listing if a["kind"] == "shell"]
    assert shell["installed"] and shell["source"].startswith("unifier-shell 0.1.0")
    assert {"trigger", "cancel", "logs"} <= set(shell["capabilities"])
    config = tmp_path / "shell.yaml"
    config.write_text(textwrap.dedent("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: scripts}
        spec:
          adapter: shell
          config:
            commands: {hello: "echo hello $P_WHO", boom: "exit 3"}
        """))
    assert "instance/scripts created" in sh(unifier, "apply", "-f", str(config), env=env).stdout
    sh(unifier, "sync", env=env)
    jobs = json.loads(sh(unifier, "jobs", "-o", "json", env=env).stdout)
    assert {j["uri"] for j in jobs} == {"shell://scripts/hello", "shell://scripts/boom"}
    run = json.loads(sh(unifier, "trigger", "shell://scripts/hello", "-p", "WHO=world", "--wait",
                        "-o", "json", env=env).stdout)
    assert (run["state"], run["parameters"]) == ("succeeded", {"WHO": "world"})
    failed = subprocess.run([unifier, "trigger", "shell://scripts/boom", "--wait"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
