"""The Airflow adapter through unifier's own CLI: apply, trigger, sync, runs, jobs, logs."""

from __future__ import annotations

import json
import time

import pytest

from tests.cli_helpers import run_cli

pytestmark = pytest.mark.airflow


@pytest.fixture
def applied(airflow_server, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("UNIFIER_TEST_AIRFLOW_PASSWORD", airflow_server.password)
    config = tmp_path / "airflow.yaml"
    config.write_text(f"""\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: airflow-prod}}
spec:
  adapter: airflow
  config:
    url: {airflow_server.url}
    username: {airflow_server.user}
    password: ${{env:UNIFIER_TEST_AIRFLOW_PASSWORD}}
""")
    result = run_cli("apply", "-f", str(config))
    assert result.exit_code == 0, result.stdout + result.stderr
    stored = (tmp_path / "unifier-home" / "unifier.db").read_bytes().decode("latin-1")
    assert '"password": "${env:UNIFIER_TEST_AIRFLOW_PASSWORD}"' in stored, "the catalog keeps the reference"
    return "airflow-prod"


def test_a_run_triggered_through_unifier_shows_up_in_unifier_runs(applied):
    uri = f"airflow://{applied}/unifier_succeeds"
    triggered = run_cli("trigger", uri, "-p", "greeting=from the cli", "-o", "json")
    assert triggered.exit_code == 0, triggered.stdout + triggered.stderr
    run_id = json.loads(triggered.stdout)["run_id"]
    deadline = time.monotonic() + 90
    while True:
        synced = run_cli("sync", "-o", "json")
        assert synced.exit_code == 0, synced.stdout + synced.stderr
        runs = json.loads(run_cli("runs", "--job", uri, "-o", "json").stdout)
        mine = [r for r in runs if r["run_id"] == run_id]
        assert len(mine) == 1
        if mine[0]["state"] == "succeeded":
            break
        assert time.monotonic() < deadline, f"run still {mine[0]['state']}"
        time.sleep(1)
    assert mine[0]["native_state"] == "success"
    assert mine[0]["parameters"] == {"greeting": "from the cli"}
    logs = run_cli("logs", uri, run_id)
    assert "unifier test conf: {'greeting': 'from the cli'}" in logs.stdout


def test_jobs_lists_every_dag_with_its_schedule(applied):
    assert run_cli("sync", "--discover").exit_code == 0
    jobs = {j["native_id"]: j for j in json.loads(run_cli("jobs", "-o", "json").stdout)}
    assert len([j for j in jobs if j.startswith("page_dag_")]) == 200
    assert (jobs["unifier_nightly"]["schedule"], jobs["unifier_nightly"]["timezone"]) == ("30 2 * * *", "UTC")
    assert jobs["unifier_paused"]["paused"] is True


def test_a_paused_dag_is_refused_with_the_reason(applied):
    result = run_cli("trigger", f"airflow://{applied}/unifier_paused")
    assert result.exit_code == 1
    assert "paused" in (result.stdout + result.stderr)
