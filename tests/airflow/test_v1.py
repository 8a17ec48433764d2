"""The adapter's REST v1 side, against a real Airflow 2.11 (started by server.sh beside
Airflow 3): the shared conformance suite plus what differs from v2 (basic auth, offset
pages, no cursor)."""

from __future__ import annotations

import asyncio
import math
import uuid

import pytest

from tests.airflow import test_conformance as airflow3
from unifier.adapter import run_id_for_firing
from unifier.errors import AdapterError, ToolUnavailable, TriggerRefused
from unifier.model import RunState
from unifier.testing.conformance import wait_terminal

pytestmark = pytest.mark.airflow


@pytest.fixture
def v1_adapter(make_adapter, airflow1_server):
    """An instance configured like any other: the adapter finds out it speaks to Airflow 2."""
    def make(**overrides):
        return make_adapter(url=airflow1_server.url, **overrides)
    return make


class TestAirflow2Conformance(airflow3.TestAirflowConformance):
    """The same DAG ids and suite as on Airflow 3; only the server differs."""

    run_timeout = 120.0  # SequentialExecutor: one task at a time

    @pytest.fixture
    def adapter(self, v1_adapter):
        return v1_adapter()


async def test_the_adapter_detects_airflow_2_and_pages_its_dags(v1_adapter, count_requests):
    adapter = v1_adapter()
    with count_requests(adapter) as log:
        jobs = await adapter.discover()
    assert adapter.rest.version == "v1"
    ids = {job.native_id for job in jobs}
    assert {f"v1_page_dag_{i:03d}" for i in range(120)} <= ids
    pages = [p for p in log.paths() if p == "/api/v1/dags"]
    assert len(pages) == math.ceil(len(jobs) / 100)
    paused = {job.native_id: job for job in jobs}["unifier_paused"]
    assert paused.paused and (paused.schedule, paused.timezone) == ("30 2 * * *", "UTC")
    ok = {job.native_id: job for job in jobs}["unifier_succeeds"]
    assert ok.owner == "data-team" and ok.url.endswith("/dags/unifier_succeeds/grid")


async def test_a_quiet_sync_costs_one_request(v1_adapter, count_requests):
    adapter = v1_adapter()
    first = await adapter.changes(None)
    with count_requests(adapter) as log:
        await adapter.changes(first.watermark)
    assert log.paths() == ["/api/v1/dags/~/dagRuns"]


async def test_a_retried_firing_starts_no_second_dag_run(v1_adapter, airflow1_server):
    import httpx

    fid = f"test-{uuid.uuid4().hex}"
    first = await v1_adapter().trigger("unifier_succeeds", {"greeting": "v1"}, fid)
    again = await v1_adapter().trigger("unifier_succeeds", {"greeting": "v1"}, fid)
    assert again.run_id == first.run_id == run_id_for_firing(fid, prefix="unifier")
    response = await asyncio.to_thread(
        httpx.get, f"{airflow1_server.url}/api/v1/dags/unifier_succeeds/dagRuns", params={"limit": 100},
        auth=(airflow1_server.user, airflow1_server.password))
    runs = response.json()["dag_runs"]
    assert [r["dag_run_id"] for r in runs].count(first.run_id) == 1
    final = await wait_terminal(v1_adapter(), "unifier_succeeds", first.run_id, 120)
    assert final.state == RunState.SUCCEEDED


async def test_a_paused_dag_refuses_the_trigger(v1_adapter):
    with pytest.raises(TriggerRefused, match="paused"):
        await v1_adapter().trigger("unifier_paused", {}, f"test-{uuid.uuid4().hex}")


async def test_a_wrong_password_is_a_clear_error(v1_adapter, monkeypatch):
    monkeypatch.setenv("WRONG_AIRFLOW_PASSWORD", "not-the-password")
    adapter = v1_adapter(password="${env:WRONG_AIRFLOW_PASSWORD}")
    with pytest.raises(AdapterError, match="check the credentials") as refused:
        await adapter.changes(None)
    assert not isinstance(refused.value, ToolUnavailable)
    assert "not-the-password" not in str(refused.value)


async def test_health_reads_the_v1_endpoints(v1_adapter):
    health = await v1_adapter().health()
    assert health.ok, health.message
    assert health.details["components"]["scheduler"] == "healthy"
