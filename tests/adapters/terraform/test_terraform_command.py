"""The terraform command layer against the real binary: -json stream parsing, the
state lock, the state serial, and finding the binary."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from unifier.adapters.terraform import state
from unifier.adapters.terraform.command import (
    BinaryNotFound,
    action_argv,
    init_argv,
    resolve_binary,
    run_command,
    terraform_env,
)
from unifier.adapters.terraform.stream import REDACTED, StreamSummary


async def _run(argv: list[str], root: Path, json_stream: bool = True):
    lines: list[str] = []
    raw = root.parent / f"{root.name}-{os.urandom(4).hex()}.out"
    result = await run_command(argv, root, terraform_env(os.environ), lines.append,
                               json_stream=json_stream, raw_output=raw)
    return result, lines


async def _init(tf_binary: Path, root: Path, mirror: Path) -> None:
    result, lines = await _run(init_argv(str(tf_binary), str(mirror)), root, json_stream=False)
    assert result.returncode == 0, "\n".join(lines)


async def test_apply_stream_records_changes_outputs_and_redacts_secrets(
        tf_binary: Path, plugin_mirror: Path, roots_dir: Path, offline_env: dict[str, str]) -> None:
    root = roots_dir / "hello"
    await _init(tf_binary, root, plugin_mirror)
    # offline: no version check against checkpoint-api, nothing written to the empty HOME
    assert not any(Path(offline_env["HOME"]).iterdir())  # noqa: ASYNC240 (a test, nothing else on its loop)

    result, lines = await _run(action_argv(str(tf_binary), "apply", {"greeting": "hi there", "size": 2}), root)
    assert result.returncode == 0, "\n".join(lines)
    summary = result.summary
    assert summary.changes == {"add": 2, "change": 0, "remove": 0}
    assert summary.operation == "apply"
    assert summary.outputs == {"greeting": "hi there", "secret_word": REDACTED}
    assert summary.terraform_version == "1.0.3"
    assert not summary.errors and not summary.locked
    # the log is the human text, including the provisioner's output
    assert any("hi there" in line for line in lines)
    assert "swordfish" not in "\n".join(lines)

    stamp = state.read_stamp(root / "terraform.tfstate")
    assert stamp is not None and stamp.serial >= 1 and stamp.lineage
    assert state.resource_count(root / "terraform.tfstate") == 2

    replan, _ = await _run(action_argv(str(tf_binary), "plan", {"greeting": "hi there", "size": 2}), root)
    assert replan.returncode == 0 and replan.summary.no_changes
    assert state.read_stamp(root / "terraform.tfstate") == stamp, "a plan does not write state"


async def test_failing_provisioner_reports_error_diagnostic(
        tf_binary: Path, plugin_mirror: Path, roots_dir: Path) -> None:
    root = roots_dir / "boom"
    await _init(tf_binary, root, plugin_mirror)
    result, lines = await _run(action_argv(str(tf_binary), "apply", {}), root)
    assert result.returncode == 1
    assert result.summary.errored == ["null_resource.boom"]
    [error] = result.summary.errors
    assert error["summary"] == "local-exec provisioner error"
    assert "exit status 1" in error["detail"]
    assert error["range"] == "main.tf:3"
    assert any("about to fail" in line for line in lines)


async def test_held_state_lock_is_reported(tf_binary: Path, plugin_mirror: Path, roots_dir: Path) -> None:
    root = roots_dir / "sleepy"
    await _init(tf_binary, root, plugin_mirror)
    first = asyncio.create_task(_run(action_argv(str(tf_binary), "apply", {"seconds": 3}), root))
    # wait until the first apply is inside its provisioner, i.e. holds the lock
    lock_info = root / ".terraform.tfstate.lock.info"
    for _ in range(100):
        if lock_info.exists():
            break
        await asyncio.sleep(0.05)
    second, _ = await _run(action_argv(str(tf_binary), "apply", {"seconds": 3}), root)
    assert second.returncode == 1
    assert second.summary.locked
    assert "Lock Info" in second.summary.errors[0]["detail"]
    done, _ = await first
    assert done.returncode == 0 and not done.summary.locked


def test_summary_keeps_non_json_lines_verbatim() -> None:
    summary = StreamSummary()
    assert summary.feed("panic: something broke\n") == "panic: something broke"
    assert summary.feed("\n") is None
    assert summary.feed('{"type":"diagnostic","@message":"Error: x","diagnostic":'
                        '{"severity":"error","summary":"x","detail":"why"}}') == "Error: x\nwhy"
    assert summary.errors == [{"severity": "error", "summary": "x", "detail": "why"}]


def test_variables_become_var_flags() -> None:
    argv = action_argv("tf", "destroy", {"name": "a b", "count": 3, "tags": {"k": "v"}})
    assert argv[:2] == ["tf", "destroy"]
    assert "-auto-approve" in argv and "-json" in argv and "-input=false" in argv
    assert argv[-6:] == ["-var", "name=a b", "-var", "count=3", "-var", 'tags={"k": "v"}']
    assert "-auto-approve" not in action_argv("tf", "plan", {})
    with pytest.raises(ValueError):
        action_argv("tf", "init", {})


def test_binary_resolution(tmp_path: Path, tf_binary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(BinaryNotFound, match="terraform.*tofu.*UNIFIER_TERRAFORM_BINARY"):
        resolve_binary(None)
    (bin_dir / "tofu").symlink_to(tf_binary)
    assert resolve_binary(None) == str(bin_dir / "tofu")
    (bin_dir / "terraform").symlink_to(tf_binary)
    assert resolve_binary(None) == str(bin_dir / "terraform"), "terraform is preferred to tofu"
    monkeypatch.setenv("UNIFIER_TERRAFORM_BINARY", str(tf_binary))
    assert resolve_binary(None) == str(tf_binary)
    assert resolve_binary("tofu") == str(bin_dir / "tofu"), "the instance's setting wins"
    with pytest.raises(BinaryNotFound, match="binary"):
        resolve_binary(str(tmp_path / "nope"))


def test_workspace_and_backend_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "main.tf").write_text('terraform {\n  backend "s3" {\n    bucket = "b"\n  }\n}\n')
    assert state.backend_type(root) == "s3"
    assert state.workspace(root) == "default"
    (root / ".terraform").mkdir()
    (root / ".terraform" / "environment").write_text("staging")
    assert state.workspace(root) == "staging"
    assert state.workspace(root, {"TF_WORKSPACE": "prod"}) == "prod"
    assert state.state_path(root, "staging") == root / "terraform.tfstate.d" / "staging" / "terraform.tfstate"
    (root / "main.tf").write_text('resource "null_resource" "x" {}\n')
    assert state.backend_type(root) == "local"
