"""Configuration files: every kind of bad file is refused whole, as FILE:LINE: reason,
and refusing leaves the catalog byte-for-byte unchanged."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from unifier.testing import register_fake_adapter

register_fake_adapter()

GOOD = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: demo}
spec:
  adapter: fake
  config:
    jobs:
      - {id: hello, schedule: "*/5 * * * *"}
"""


def write(tmp_path: Path, text: str, name: str = "unifier.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


BAD_FILES = {
    "yaml-syntax": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: demo
        spec: {adapter: fake}
        """, 4, "YAML syntax error"),
    "unknown-kind": ("""\
        apiVersion: unifier/v1
        kind: Widget
        metadata: {name: demo}
        """, 2, "unknown kind 'Widget'"),
    "unknown-adapter": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: demo}
        spec:
          adapter: nosuchtool
        """, 5, "unknown adapter 'nosuchtool'"),
    "missing-field": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: demo}
        """, 1, "spec: required field is missing"),
    "mistyped-field": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: demo}
        spec:
          adapter: fake
          config:
            queue_seconds: soon
        """, 7, "spec.config.queue_seconds"),
    "misspelt-field": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: demo}
        spec:
          adapter: fake
          config:
            job: []
        """, 7, "unknown field (did you mean 'jobs'?)"),
    "duplicate-name": (GOOD + "---\n" + GOOD, 12, "duplicate Instance name 'demo'"),
    "duplicate-key": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: demo}
        metadata: {name: other}
        spec: {adapter: fake}
        """, 4, "duplicate key 'metadata'"),
    "bad-cron": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: demo}
        spec:
          adapter: fake
          config:
            jobs:
              - {id: x, schedule: "61 * * * *"}
        """, 8, "bad cron expression '61 * * * *'"),
    "unresolvable-secret": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: demo}
        spec:
          adapter: fake
          webhook_secret: ${env:UNIFIER_TEST_SURELY_UNSET}
        """, 6, "UNIFIER_TEST_SURELY_UNSET is not set"),
    "literal-secret": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: demo}
        spec:
          adapter: fake
          webhook_secret: hunter2
        """, 6, "must be a secret reference"),
    "bad-name": ("""\
        apiVersion: unifier/v1
        kind: Instance
        metadata: {name: Not_A_Name}
        spec: {adapter: fake}
        """, 3, "metadata.name"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_validate_refuses_bad_file_with_file_line_reason(tmp_path, case):
    text, line, reason = BAD_FILES[case]
    path = write(tmp_path, text)
    result = run_cli("validate", "-f", str(path))
    assert result.exit_code == 2, result
    problems = [text for text in result.stderr.splitlines() if text.startswith(f"{path}:")]
    assert any(text.startswith(f"{path}:{line}: ") and reason in text for text in problems), result.stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_apply_of_bad_file_leaves_catalog_byte_for_byte_unchanged(tmp_path, unifier_home, case):
    good = write(tmp_path, GOOD, "good.yaml")
    assert run_cli("apply", "-f", str(good)).exit_code == 0
    db = Path(unifier_home) / "unifier.db"
    run_cli("status")  # let SQLite settle its WAL into the main file
    before = {p.name: digest(p) for p in db.parent.iterdir()}
    text, _, _ = BAD_FILES[case]
    # the bad document comes second: the good first document must not be applied either
    bad = write(tmp_path, GOOD.replace("demo", "second") + "---\n" + textwrap.dedent(text), "bad.yaml")
    result = run_cli("apply", "-f", str(bad))
    assert result.exit_code == 2
    assert "nothing was applied" in result.stderr
    assert {p.name: digest(p) for p in db.parent.iterdir()} == before


def test_problems_from_several_files_are_all_reported(tmp_path):
    a = write(tmp_path, BAD_FILES["unknown-kind"][0], "a.yaml")
    b = write(tmp_path, BAD_FILES["bad-cron"][0], "b.yaml")
    result = run_cli("validate", "-f", str(a), "-f", str(b))
    assert result.exit_code == 2
    assert f"{a}:2: " in result.stderr and f"{b}:8: " in result.stderr


def test_apply_creates_configures_leaves_unchanged_and_prunes(tmp_path):
    one = write(tmp_path, GOOD, "one.yaml")
    two = write(tmp_path, GOOD + "---\n" + GOOD.replace("demo", "other"), "two.yaml")
    assert run_cli("apply", "-f", str(one)).stdout.split("\n")[0] == "instance/demo created"
    assert "instance/demo unchanged" in run_cli("apply", "-f", str(one)).stdout
    out = run_cli("apply", "-f", str(two)).stdout
    assert "instance/demo unchanged" in out and "instance/other created" in out
    changed = write(tmp_path, GOOD.replace("*/5", "*/10"), "one.yaml")
    assert "instance/demo configured" in run_cli("apply", "-f", str(changed)).stdout
    result = run_cli("apply", "-f", str(changed), "--prune", "-o", "json")
    assert {"kind": "Instance", "name": "other", "action": "deleted"} in json.loads(result.stdout)
    assert [i["name"] for i in json.loads(run_cli("instances", "-o", "json").stdout)] == ["demo"]


def test_relative_paths_resolve_against_the_yaml_file(tmp_path):
    from pydantic import BaseModel

    from unifier.config import load_files
    from unifier.config.paths import ConfigPath

    class Settings(BaseModel):
        file: ConfigPath

    (tmp_path / "conf").mkdir()
    config = write(tmp_path / "conf", GOOD)
    [loaded] = load_files([config]).instances
    settings = Settings.model_validate({"file": "./crontab"}, context={"base_dir": loaded.source.base_dir})
    assert settings.file == str(tmp_path / "conf" / "crontab")


def test_secrets_stay_references_in_the_catalog(tmp_path, monkeypatch, unifier_home):
    monkeypatch.setenv("UNIFIER_TEST_HOOK_SECRET", "s3cret-value")
    path = write(tmp_path, GOOD + "  webhook_secret: ${env:UNIFIER_TEST_HOOK_SECRET}\n")
    assert run_cli("apply", "-f", str(path)).exit_code == 0
    run_cli("status")
    stored = b"".join(p.read_bytes() for p in Path(unifier_home).iterdir() if p.is_file())
    assert b"s3cret-value" not in stored
    assert b"${env:UNIFIER_TEST_HOOK_SECRET}" in stored


def test_schema_covers_every_kind_and_adapter():
    result = run_cli("schema")
    schema = json.loads(result.stdout)
    text = json.dumps(schema)
    assert "FakeInstance" in text and "TriggerDocument" in text
    assert result.exit_code == 0
