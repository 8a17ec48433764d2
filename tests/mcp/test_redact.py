"""What the redactor masks: the current values of configuration references, and
secret-named arguments; never the references themselves."""

from __future__ import annotations

from unifier.mcp.redact import MASK, Redactor, reference_values
from unifier.mcp.scope import Scope


def test_reference_values_are_resolved_now_and_masked_wherever_they_appear(monkeypatch, tmp_path):
    monkeypatch.setenv("DB_PASSWORD", "pa55word-long")
    monkeypatch.setenv("SHORT", "ab")
    (tmp_path / "token").write_text("file-token-value\n")
    config = {"url": "postgres://u:${env:DB_PASSWORD}@db/x", "nested": [{"token": f"${{file:{tmp_path}/token}}"}],
              "short": "${env:SHORT}", "unset": "${env:NOT_SET_ANYWHERE}"}
    values = reference_values(config)
    assert values == {"pa55word-long", "file-token-value"}  # too short and unresolvable: skipped
    redactor = Redactor(values | {"pa55word"})  # a secret inside another is masked whole
    assert redactor.text("login pa55word-long; then file-token-value") == f"login {MASK}; then {MASK}"


def test_audited_arguments_mask_secret_names_keep_references_and_cut_long_text():
    redactor = Redactor(["hunter2-value"])
    audited = redactor.for_audit({"job": "cron://a/b", "params": {"api_key": "k-123", "password": "${env:PW}",
                                                                  "note": "uses hunter2-value"},
                                  "yaml_text": "x" * 1000})
    assert audited["params"] == {"api_key": MASK, "password": "${env:PW}", "note": f"uses {MASK}"}
    assert audited["job"] == "cron://a/b"
    assert audited["yaml_text"].endswith("(1000 characters)") and len(audited["yaml_text"]) < 300


def test_scope_patterns_match_across_slashes_and_instances_by_namespace():
    scope = Scope.of(["jenkins://ci/team-a/*", "airflow://prod/team_a_*"])
    assert scope.allows("jenkins://ci/team-a/deploy/prod")  # * matches / too
    assert not scope.allows("jenkins://ci/team-b/deploy")
    assert scope.allows_instance("jenkins", "ci") and scope.allows_instance("airflow", "prod")
    assert not scope.allows_instance("cron", "team-a") and not scope.allows_instance("airflow", "prod2")
    assert Scope().allows("anything://x/y") and not Scope.of([]).allows("cron://a/b")
