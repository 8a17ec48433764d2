"""The read routes answer what the CLI's ``-o json`` prints, field for field."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import run_cli

LOAD = "airflow://prod/load"


def cli_json(*args: str):
    result = run_cli(*args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("path, command", [
    ("/api/jobs", ("jobs",)),
    ("/api/jobs?instance=prod", ("jobs", "--instance", "prod")),
    ("/api/runs", ("runs",)),
    ("/api/runs?state=failed&state=running", ("runs", "--state", "failed", "--state", "running")),
    ("/api/runs?since=24h&limit=1", ("runs", "--since", "24h", "--limit", "1")),
    (f"/api/runs?job={LOAD}", ("runs", "--job", LOAD)),
    ("/api/events", ("events",)),
    ("/api/triggers", ("triggers",)),
])
async def test_a_route_returns_what_the_cli_prints(client, path, command):
    response = await client.get(path)
    assert response.status_code == 200
    assert response.json() == cli_json(*command)


async def test_status_has_the_cli_fields_and_shows_instance_errors(client):
    api = {r["job"]: r for r in (await client.get("/api/status")).json()}
    cli = {r["job"]: r for r in cli_json("status")}
    assert set(api) == set(cli) == {"cron://hosts/extract", "cron://hosts/idle", LOAD}
    for job, row in api.items():
        assert list(row) == list(cli[job])
    assert api["cron://hosts/idle"]["state"] is None
    assert api[LOAD]["instance_error"] == "ToolUnavailable: connection refused"


async def test_instances_have_the_cli_fields_and_health(client):
    api = (await client.get("/api/instances")).json()
    cli = cli_json("instances")
    assert [list(r) for r in api] == [list(r) for r in cli]
    health = {r["name"]: (r["healthy"], r["error"]) for r in api}
    assert health == {"hosts": (True, None), "prod": (False, "ToolUnavailable: connection refused")}


async def test_graph_is_unifier_graph_json(client):
    api = (await client.get("/api/graph")).json()
    result = run_cli("graph", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert api == json.loads(result.stdout)
    assert {(e["from"], e["to"]) for e in api["edges"]} == {
        ("cron://hosts/extract", LOAD), (LOAD, "jenkins://ci/report")}
    assert {n["id"]: n["in_catalog"] for n in api["nodes"]}["jenkins://ci/report"] is False


async def test_filters_narrow_the_answer(client):
    assert {j["instance"] for j in (await client.get("/api/jobs?instance=hosts")).json()} == {"hosts"}
    failed = (await client.get("/api/runs?state=failed")).json()
    assert [(r["job"], r["state"]) for r in failed] == [(LOAD, "failed")]
    assert len((await client.get(f"/api/runs?job={LOAD}")).json()) == 2
    assert len((await client.get("/api/runs?limit=1")).json()) == 1
    assert (await client.get("/api/events?after=2")).json()[0]["id"] == 3


async def test_a_job_and_a_run_are_found_by_uri_in_the_path(client):
    job = await client.get(f"/api/jobs/{LOAD}")
    assert job.status_code == 200
    assert job.json()["owner"] == "data"
    encoded = await client.get("/api/jobs/airflow%3A%2F%2Fprod%2Fload")
    assert encoded.json() == job.json()
    run_id = "scheduled__2026-11-24T00:00:00+00:00"
    run = await client.get(f"/api/runs/{LOAD}/{run_id.replace('+', '%2B')}")
    assert run.status_code == 200
    assert (run.json()["run_id"], run.json()["state"]) == (run_id, "failed")
    by_query = await client.get("/api/run", params={"job": LOAD, "run_id": run_id})
    assert by_query.json() == run.json()


@pytest.mark.parametrize("path", [
    "/api/jobs/airflow://prod/nope",
    f"/api/runs/{LOAD}/nope",
    "/api/run?job=cron://hosts/extract&run_id=nope",
    "/api/triggers/nope",
])
async def test_what_is_not_in_the_catalog_is_404_with_a_message(client, path):
    response = await client.get(path)
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


async def test_a_bad_since_is_422_naming_it(client):
    response = await client.get("/api/runs?since=yesterday")
    assert response.status_code == 422
    assert "since" in response.json()["detail"]


async def test_openapi_lists_the_read_routes(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/status", "/api/jobs", "/api/runs", "/api/instances", "/api/graph",
                 "/api/events", "/api/events/stream", "/hooks/{instance}"):
        assert path in paths
