"""What a user of the Airflow adapter relies on, checked against a real Airflow 3."""

from __future__ import annotations

import asyncio
import math
import socket
import time
import uuid

import pytest

from unifier.adapter import run_id_for_firing
from unifier.catalog import Catalog
from unifier.errors import AdapterError, NotFound, ToolUnavailable, TriggerRefused
from unifier.model import CauseKind, RunState
from unifier.testing.conformance import wait_terminal

pytestmark = pytest.mark.airflow

RUNS_PATH = "/api/v2/dags/~/dagRuns"


def firing() -> str:
    return f"test-{uuid.uuid4().hex}"


# -- discovery ----------------------------------------------------------------------------


async def test_discover_pages_through_every_dag(count_requests, make_adapter, airflow_api):
    adapter = make_adapter()
    total = airflow_api.get("/dags", limit=1)["total_entries"]
    assert total > 200, "the test DAG folder defines 200 page_dag_* DAGs plus the unifier_* ones"
    with count_requests(adapter) as log:
        jobs = await adapter.discover()
    ids = {job.native_id for job in jobs}
    assert {f"page_dag_{i:03d}" for i in range(200)} <= ids
    assert len(jobs) == total
    # pages of 100, not one request per DAG (plus, once per process: the API version
    # probe, the token, one details read)
    assert log.paths().count("/api/v2/dags") == math.ceil(total / 100)
    assert len(log) <= math.ceil(total / 100) + 3


async def test_discover_describes_dags(make_adapter, airflow_server):
    jobs = {job.native_id: job for job in await make_adapter(name="prod").discover()}
    ok = jobs["unifier_succeeds"]
    assert ok.uri == "airflow://prod/unifier_succeeds"
    assert ok.owner == "data-team"
    assert ok.tags == ["test", "unifier"]
    assert ok.description == "Succeeds; echoes the trigger parameters"
    assert ok.url == f"{airflow_server.url}/dags/unifier_succeeds"
    assert ok.schedule is None and not ok.paused

    nightly = jobs["unifier_nightly"]
    assert (nightly.schedule, nightly.timezone) == ("30 2 * * *", "UTC")
    assert nightly.next_run_at is not None
    assert (nightly.next_run_at.hour, nightly.next_run_at.minute) == (2, 30)

    # Airflow computes the next run in Europe/Paris, which its API does not name:
    # the job keeps Airflow's next run and claims no time zone rather than a wrong one.
    paris = jobs["unifier_paused"]
    assert paris.paused and paris.schedule == "0 6 * * 1-5"
    assert paris.timezone is None and "timezone_unknown" in paris.extra
    assert paris.next_run_at is not None and paris.next_run_at.hour in (4, 5)  # 06:00 CEST/CET

    frequent = jobs["unifier_frequent"]
    assert frequent.schedule is None  # a 20-second timedelta is not a cron expression
    assert frequent.extra["timetable_summary"] == "0:00:20"
    assert frequent.next_run_at is not None


async def test_import_errors_are_health_not_crashes(make_adapter):
    adapter = make_adapter()
    health = await adapter.health()
    assert health.ok, health.message
    assert "unifier_broken_dag.py" in health.message
    errors = health.details["import_errors"]
    assert any("deliberately broken" in e["error"] for e in errors)
    assert len(await adapter.discover()) > 200  # the broken file does not stop discovery


# -- incremental sync -----------------------------------------------------------------


async def test_a_quiet_sync_costs_one_request(count_requests, make_adapter):
    adapter = make_adapter()
    first = await adapter.changes(None)  # also logs in
    with count_requests(adapter) as log:
        second = await adapter.changes(first.watermark)
    assert log.paths() == [RUNS_PATH], "one request per sync cycle, whatever the number of DAGs"
    assert second.requests == 1


async def test_changed_runs_cost_one_request_per_hundred(count_requests, make_adapter, airflow_api):
    adapter = make_adapter()
    start = await adapter.changes(None)
    created = set(airflow_api.queued_runs(150, prefix=f"page-{uuid.uuid4().hex[:6]}"))
    with count_requests(adapter) as log:
        changed = await adapter.changes(start.watermark)
    seen = {run.run_id for run in changed.runs}
    assert created <= seen
    assert log.paths().count(RUNS_PATH) == len(log) == math.ceil(len(changed.runs) / 100)
    assert len(changed.runs) == len(seen), "each run listed once"


async def test_runs_seen_again_in_the_overlap_are_not_repeated(make_adapter, airflow_api):
    adapter = make_adapter(watermark_overlap=30)
    start = await adapter.changes(None)
    run_id = airflow_api.queued_runs(1, prefix=f"dedup-{uuid.uuid4().hex[:6]}")[0]
    first = await adapter.changes(start.watermark)
    assert run_id in {r.run_id for r in first.runs}
    again = await adapter.changes(first.watermark)  # reaches back 30 s: re-reads the run
    assert run_id not in {r.run_id for r in again.runs}


async def test_a_run_airflow_schedules_itself_appears_on_the_next_sync(make_adapter):
    adapter = make_adapter()
    start = await adapter.changes(None)
    known = {r.run_id for r in start.runs if r.job.endswith("/unifier_frequent")}
    watermark = start.watermark
    deadline = time.monotonic() + 75  # the DAG runs every 20 s
    while time.monotonic() < deadline:
        changed = await adapter.changes(watermark)
        watermark = changed.watermark
        new = [r for r in changed.runs if r.job == adapter.job_uri("unifier_frequent")
               and r.run_id not in known and r.state == RunState.SUCCEEDED]
        if new:
            assert new[0].cause.kind == CauseKind.SCHEDULE
            assert new[0].details["run_type"] == "scheduled"
            return
        await asyncio.sleep(2)
    pytest.fail("no new scheduled run of unifier_frequent reached changes() within 75 s")


async def test_a_cleared_run_becomes_a_new_attempt_in_the_catalog(make_adapter, airflow_api, tmp_path):
    adapter = make_adapter()
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        start = await adapter.changes(None)
        run = await adapter.trigger("unifier_succeeds", {"greeting": "once"}, firing())
        await wait_terminal(adapter, "unifier_succeeds", run.run_id, 90)
        first = await adapter.changes(start.watermark)
        catalog.record_runs(first.runs)

        airflow_api.post(f"/dags/unifier_succeeds/dagRuns/{run.run_id}/clear", {"dry_run": False})
        await asyncio.sleep(1.5)  # let the cleared run start again
        final = await wait_terminal(adapter, "unifier_succeeds", run.run_id, 90)
        assert final.state == RunState.SUCCEEDED
        second = await adapter.changes(first.watermark)
        assert run.run_id in {r.run_id for r in second.runs}
        catalog.record_runs(second.runs)
        stored = catalog.get_run(run.job, run.run_id)
        assert stored.attempt == 2, stored
        assert stored.state == RunState.SUCCEEDED
    finally:
        catalog.close()


# -- trigger ------------------------------------------------------------------------------


async def test_a_retried_firing_starts_no_second_dag_run(count_requests, make_adapter, airflow_api):
    fid = firing()
    first = await make_adapter().trigger("unifier_succeeds", {"greeting": "hi"}, fid)
    # the retry comes from a fresh process (a restarted unifier): nothing in memory
    retry_adapter = make_adapter()
    with count_requests(retry_adapter) as log:
        again = await retry_adapter.trigger("unifier_succeeds", {"greeting": "hi"}, fid)
    assert again.run_id == first.run_id == run_id_for_firing(fid, prefix="unifier")
    assert ("POST", "/api/v2/dags/unifier_succeeds/dagRuns") in log.calls  # answered 409, adopted
    runs = [r for r in airflow_api.runs_of("unifier_succeeds") if r["dag_run_id"] == first.run_id]
    assert len(runs) == 1
    assert runs[0]["conf"] == {"greeting": "hi"}
    assert again.cause.kind == CauseKind.TRIGGER and again.cause.firing_id == fid


async def test_a_run_id_taken_by_another_run_is_not_adopted(make_adapter, airflow_api):
    fid = firing()
    squatter = run_id_for_firing(fid, prefix="unifier")
    airflow_api.post("/dags/unifier_succeeds/dagRuns",
                     {"dag_run_id": squatter, "logical_date": None, "conf": {"other": 1},
                      "note": "created by hand"})
    with pytest.raises(TriggerRefused, match="already belongs to another run"):
        await make_adapter().trigger("unifier_succeeds", {"greeting": "hi"}, fid)


async def test_a_paused_dag_refuses_the_trigger_clearly(make_adapter, airflow_api):
    with pytest.raises(TriggerRefused, match="paused") as refused:
        await make_adapter().trigger("unifier_paused", {}, firing())
    assert "unpause_on_trigger" in str(refused.value)
    assert not [r for r in airflow_api.runs_of("unifier_paused")], "no run left queued forever"


async def test_unpause_on_trigger_unpauses_and_runs(make_adapter, airflow_api):
    dag = "page_dag_199"
    assert airflow_api.get(f"/dags/{dag}")["is_paused"]
    try:
        adapter = make_adapter(unpause_on_trigger=True)
        run = await adapter.trigger(dag, {}, firing())
        assert airflow_api.get(f"/dags/{dag}")["is_paused"] is False
        final = await wait_terminal(adapter, dag, run.run_id, 90)
        assert final.state == RunState.SUCCEEDED
    finally:
        airflow_api.patch(f"/dags/{dag}", {"is_paused": True}, update_mask="is_paused")


async def test_unknown_dag_and_run_are_not_found(make_adapter):
    adapter = make_adapter()
    with pytest.raises(NotFound):
        await adapter.trigger("no_such_dag", {}, firing())
    with pytest.raises(NotFound):
        await adapter.status("unifier_succeeds", "no-such-run")


async def test_parameters_the_dag_refuses_are_a_trigger_refusal(make_adapter):
    # unifier_succeeds declares `greeting` as a string Param: Airflow validates conf
    with pytest.raises(TriggerRefused, match="greeting"):
        await make_adapter().trigger("unifier_succeeds", {"greeting": 42}, firing())


# -- cancel and logs ----------------------------------------------------------------------


async def test_cancel_stops_a_running_task(make_adapter, airflow_api):
    adapter = make_adapter()
    run = await adapter.trigger("unifier_slow", {}, firing())
    deadline = time.monotonic() + 60
    while True:  # wait until the task really runs, so the cancel has something to stop
        tis = airflow_api.get(f"/dags/unifier_slow/dagRuns/{run.run_id}/taskInstances")["task_instances"]
        if tis and tis[0]["state"] == "running":
            break
        assert time.monotonic() < deadline, f"task never started: {tis}"
        await asyncio.sleep(0.3)
    await adapter.cancel("unifier_slow", run.run_id)
    final = await adapter.status("unifier_slow", run.run_id)
    assert final.state == RunState.FAILED and final.ended_at is not None
    deadline = time.monotonic() + 30
    while True:  # the task process is told to stop: it must not run its 60 s out
        ti = airflow_api.get(f"/dags/unifier_slow/dagRuns/{run.run_id}/taskInstances")["task_instances"][0]
        if ti["state"] != "running":
            break
        assert time.monotonic() < deadline, "the task kept running after the cancel"
        await asyncio.sleep(0.5)
    assert ti["state"] == "failed"
    await adapter.cancel("unifier_slow", run.run_id)  # cancelling a finished run changes nothing


async def test_logs_cover_every_task_in_order(make_adapter):
    adapter = make_adapter()
    run = await adapter.trigger("unifier_succeeds", {"greeting": "log me"}, firing())
    await wait_terminal(adapter, "unifier_succeeds", run.run_id, 90)
    text = await adapter.logs("unifier_succeeds", run.run_id)
    assert text.index("=== greet (try 1") < text.index("=== check (try 1")
    assert "unifier test conf: {'greeting': 'log me'}" in text


# -- credentials and outages ----------------------------------------------------------------


async def test_a_wrong_password_is_a_clear_error(make_adapter, monkeypatch):
    monkeypatch.setenv("WRONG_AIRFLOW_PASSWORD", "not-the-password")
    adapter = make_adapter(password="${env:WRONG_AIRFLOW_PASSWORD}")
    with pytest.raises(AdapterError) as refused:
        await adapter.changes(None)
    assert not isinstance(refused.value, ToolUnavailable)
    message = str(refused.value)
    assert "refused the username/password" in message and "admin" in message
    assert "not-the-password" not in message
    health = await adapter.health()
    assert not health.ok and "refused" in health.message


async def test_a_static_token_works_and_a_bad_one_is_named(make_adapter, airflow_api, monkeypatch,
                                                          airflow_config):
    token = airflow_api.http.headers["Authorization"].removeprefix("Bearer ")
    monkeypatch.setenv("AIRFLOW_TEST_TOKEN", token)
    base = {k: v for k, v in airflow_config.items() if k not in ("username", "password")}
    good = make_adapter(**base, username=None, password=None, token="${env:AIRFLOW_TEST_TOKEN}")
    assert (await good.changes(None)).watermark
    monkeypatch.setenv("AIRFLOW_TEST_TOKEN", "garbage")
    bad = make_adapter(**base, username=None, password=None, token="${env:AIRFLOW_TEST_TOKEN}")
    with pytest.raises(AdapterError, match="refused .* for token"):
        await bad.changes(None)


async def test_the_token_is_renewed_before_it_expires(count_requests, make_adapter):
    adapter = make_adapter()
    await adapter.changes(None)
    adapter.client.session.refresh_at = time.time() - 1  # as if its expiry were near
    with count_requests(adapter) as log:
        await adapter.changes(None)
    assert log.paths()[0] == "/auth/token"
    assert log.paths()[1:] == [RUNS_PATH] * (len(log) - 1)


async def test_airflow_down_is_tool_unavailable(make_adapter):
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    adapter = make_adapter(url=f"http://127.0.0.1:{port}", timeout=2)
    for call in (adapter.discover(), adapter.changes(None), adapter.trigger("x", {}, firing()),
                 adapter.status("x", "y")):
        with pytest.raises(ToolUnavailable, match=f"127.0.0.1:{port} is unreachable"):
            await call
    health = await adapter.health()
    assert not health.ok and "unreachable" in health.message
