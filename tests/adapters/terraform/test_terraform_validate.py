"""`unifier validate` refuses roots that name no Terraform configuration."""

from __future__ import annotations

from tests.cli_helpers import run_cli


def test_missing_roots_and_empty_patterns_are_refused(tmp_path):
    (tmp_path / "network").mkdir()
    (tmp_path / "network" / "main.tf").write_text('resource "null_resource" "x" {}\n')
    (tmp_path / "empty").mkdir()
    config = tmp_path / "unifier.yaml"
    config.write_text("apiVersion: unifier/v1\nkind: Instance\nmetadata: {name: infra}\nspec:\n"
                      "  adapter: terraform\n  config:\n"
                      "    roots: [./network, ./netwrk, ./empty, ./envs/*]\n")
    result = run_cli("validate", "-f", str(config))
    assert result.exit_code == 2
    assert f"{config}:7: root {tmp_path / 'netwrk'} does not exist" in result.stderr
    assert f"root {tmp_path / 'empty'} holds no *.tf files" in result.stderr
    assert f"roots pattern {tmp_path / 'envs/*'} matches no root module" in result.stderr
    config.write_text(config.read_text().replace(", ./netwrk, ./empty, ./envs/*", ", ./*"))
    assert run_cli("validate", "-f", str(config)).exit_code == 0
