"""The control plane's side of zones, through the real HTTP routes and a real catalog:
spec.zone, the outbox's sequence numbers, the work queue and the lease."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from unifier.api import create_app
from unifier.apply import apply
from unifier.config import load_files
from unifier.errors import ConfigError
from unifier.model import RunState
from unifier.status import instance_rows
from unifier.sync import sync_instance
from unifier.testing import build_run
from unifier.zones import queue
from unifier.zones.settings import ZoneSettings

ZONED = """\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: plant}}
spec:
  adapter: cron
  zone: {zone}
  config: {{crontabs: [{crontab}]}}
---
apiVersion: unifier/v1
kind: Instance
metadata: {{name: ci}}
spec:
  adapter: jenkins
  zone: {zone}
  config: {{url: "http://jenkins.plant.invalid:8080", username: bot, token: "${{env:PLANT_JENKINS_TOKEN}}"}}
---
apiVersion: unifier/v1
kind: Instance
metadata: {{name: office}}
spec:
  adapter: cron
  config: {{crontabs: [{crontab}]}}
"""


@pytest.fixture
def configured(catalog, tmp_path):
    crontab = tmp_path / "crontab"
    crontab.write_text("# unifier: name=backup\n0 3 * * * true\n")
    path = tmp_path / "unifier.yaml"
    path.write_text(ZONED.format(zone="plant-7", crontab=crontab))
    apply(catalog, load_files([path]))
    return catalog


@pytest.fixture
def settings():
    return ZoneSettings(lease_seconds=0.5, redeliver_seconds=0.3, long_poll_seconds=0.2,
                        answer_wait_seconds=0.3, check_interval_seconds=0.02)


@pytest.fixture
async def http(configured, settings):
    app = create_app(lambda: configured)
    app.state.zone_settings = settings
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp") as client:
        yield client


def agent_headers(agent_id: str, zone: str = "plant-7", name: str | None = None) -> dict[str, str]:
    return {"Authorization": "Bearer t", "X-Unifier-Zone": zone, "X-Unifier-Agent-Id": agent_id,
            "X-Unifier-Agent-Name": name or agent_id, "X-Unifier-Agent-Version": "0.1.0"}


def runs_message(seq: int, run_id: str, state: str, instance: str = "plant") -> dict:
    run = build_run(f"cron://{instance}/backup", run_id, RunState(state))
    return {"seq": seq, "kind": "runs", "at": "2026-11-28T10:00:00+00:00", "instance": instance,
            "runs": [json.loads(run.model_dump_json())]}


def test_a_zone_name_is_validated(catalog, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(ZONED.format(zone="Plant_7", crontab=tmp_path / "nowhere"))
    with pytest.raises(ConfigError) as refused:
        load_files([path])
    assert "zone" in str(refused.value)


def test_zoned_instances_show_their_zone_and_are_not_synced_by_the_control_plane(configured):
    assert {r.name: r.zone for r in instance_rows(configured)} == {
        "ci": "plant-7", "office": None, "plant": "plant-7"}
    report = asyncio.run(sync_instance(configured, "plant", discover=True))
    assert report.ok and report.zone == "plant-7"
    assert configured.list_jobs("plant") == []  # its crontab is readable here, yet not read
    assert asyncio.run(sync_instance(configured, "office", discover=True)).ok
    assert [j.uri for j in configured.list_jobs("office")] == ["cron://office/backup"]


async def test_an_agent_gets_its_zones_specs_with_secret_references_unresolved(http, monkeypatch):
    monkeypatch.setenv("PLANT_JENKINS_TOKEN", "s3cret-on-the-control-plane")
    answer = await http.get("/api/agent/instances", headers=agent_headers("a1"))
    assert answer.status_code == 200
    by_name = {i["name"]: i for i in answer.json()}
    assert sorted(by_name) == ["ci", "plant"]  # not "office": it has no zone
    assert by_name["ci"]["spec"]["config"]["token"] == "${env:PLANT_JENKINS_TOKEN}"
    assert "s3cret" not in answer.text
    other = await http.get("/api/agent/instances", headers=agent_headers("b1", zone="plant-8"))
    assert other.json() == []


async def test_an_agent_route_without_an_identity_is_refused_with_a_reason(http):
    answer = await http.post("/api/agent/pull", json={"wait": 0})
    assert answer.status_code == 401
    assert "X-Unifier-Zone" in answer.json()["detail"]
    bad = await http.post("/api/agent/outbox", headers=agent_headers("a1"), json={"messages": [{"seq": 0}]})
    assert bad.status_code == 422


async def test_outbox_messages_apply_once_in_order_and_a_gap_is_refused(http, configured):
    headers = agent_headers("a1")
    first = await http.post("/api/agent/outbox", headers=headers, json={"messages": [
        runs_message(1, "r1", "running"), runs_message(2, "r1", "succeeded")]})
    assert first.json()["acked_seq"] == 2
    # the answer was lost: the agent sends 2 again, with 3
    again = await http.post("/api/agent/outbox", headers=headers, json={"messages": [
        runs_message(2, "r1", "succeeded"), runs_message(3, "r2", "running")]})
    assert again.json()["acked_seq"] == 3
    gap = await http.post("/api/agent/outbox", headers=headers, json={"messages": [
        runs_message(5, "r3", "running")]})
    assert gap.status_code == 409 and gap.json()["acked_seq"] == 3
    assert [r.run_id for r in configured.list_runs(job="cron://plant/backup")] == ["r2", "r1"]
    fill = await http.post("/api/agent/outbox", headers=headers, json={"messages": [
        runs_message(4, "r4", "running"), runs_message(5, "r3", "running")]})
    assert fill.json()["acked_seq"] == 5
    events = [(e.run_id, e.state) for _id, e in configured.list_events(job="cron://plant/backup")]
    assert events.count(("r1", RunState.SUCCEEDED)) == 1  # seq 2 applied once
    assert sorted({e[0] for e in events}) == ["r1", "r2", "r3", "r4"]
    # another agent has its own sequence
    other = await http.post("/api/agent/outbox", headers=agent_headers("a2"), json={"messages": [
        runs_message(1, "r5", "running")]})
    assert other.json()["acked_seq"] == 1


async def test_an_agent_cannot_report_for_an_instance_outside_its_zone(http, configured):
    answer = await http.post("/api/agent/outbox", headers=agent_headers("a1"), json={"messages": [
        runs_message(1, "x1", "succeeded", instance="office")]})
    assert answer.status_code == 200
    assert answer.json()["acked_seq"] == 1  # consumed, never to be resent
    assert "office" in answer.json()["refused"][0]["reason"]
    assert configured.list_runs(job="cron://office/backup") == []


async def test_work_goes_to_the_active_agent_only_and_a_silent_one_is_replaced(http, configured, settings):
    a, b = agent_headers("a1", name="plant-a"), agent_headers("b1", name="plant-b")
    first = (await http.post("/api/agent/pull", headers=a, json={"wait": 0})).json()
    assert first["active"] and first["generation"] == 1
    work = queue.enqueue(configured, "plant-7", "trigger:cron://plant/backup:f1", "trigger",
                         "cron://plant/backup", {"native_id": "backup", "firing_id": "f1"})
    standby = (await http.post("/api/agent/pull", headers=b, json={"wait": 0})).json()
    assert not standby["active"] and standby["work"] == [] and standby["holder"] == "a1"
    pulled = (await http.post("/api/agent/pull", headers=a, json={"wait": 0})).json()
    assert [w["id"] for w in pulled["work"]] == [work.id]
    assert (await http.post("/api/agent/ack", headers=a, json={"ids": [work.id]})).json()["acked"] == [work.id]
    # acknowledged: not handed out again while a1 holds the lease
    assert (await http.post("/api/agent/pull", headers=a, json={"wait": 0})).json()["work"] == []
    zones = (await http.get("/api/zones")).json()
    assert zones[0]["zone"] == "plant-7" and zones[0]["agent"] == "plant-a"
    assert zones[0]["backlog"] == 1 and zones[0]["standby"] == ["plant-b"]
    assert zones[0]["instances"] == ["ci", "plant"] and zones[0]["version"] == "0.1.0"
    await asyncio.sleep(settings.lease_seconds + 0.1)  # a1 goes silent
    taken = (await http.post("/api/agent/pull", headers=b, json={"wait": 0})).json()
    assert taken["active"] and taken["generation"] == 2
    assert [w["id"] for w in taken["work"]] == [work.id]  # a1 never answered it
    back = (await http.post("/api/agent/pull", headers=a, json={"wait": 0})).json()
    assert not back["active"] and back["work"] == []
    # both answer (a1 came back late): the first answer stands
    for seq_headers, run_id in ((b, "from-b"), (a, "from-a")):
        result = {"seq": 1, "kind": "result", "at": "2026-11-28T10:00:00+00:00", "work_id": work.id,
                  "ok": True, "run": json.loads(build_run("cron://plant/backup", run_id).model_dump_json())}
        await http.post("/api/agent/outbox", headers=seq_headers, json={"messages": [result]})
    answered = queue.get(configured, "plant-7", work.key)
    assert answered.state == "done" and answered.result["run"]["run_id"] == "from-b"
    assert (await http.get("/api/zones")).json()[0]["backlog"] == 0


async def test_work_delivered_but_never_acknowledged_is_delivered_again(http, configured, settings):
    a = agent_headers("a1")
    work = queue.enqueue(configured, "plant-7", "logs:1", "logs", "cron://plant/backup",
                         {"native_id": "backup", "run_id": "r1"})
    first = (await http.post("/api/agent/pull", headers=a, json={"wait": 0})).json()["work"]
    assert [w["id"] for w in first] == [work.id]
    assert (await http.post("/api/agent/pull", headers=a, json={"wait": 0})).json()["work"] == []
    await asyncio.sleep(settings.redeliver_seconds + 0.05)
    again = (await http.post("/api/agent/pull", headers=a, json={"wait": 0})).json()["work"]
    assert [(w["id"], w["attempt"]) for w in again] == [(work.id, 1)]  # the same attempt
    assert queue.get(configured, "plant-7", "logs:1").deliveries == 2


async def test_enqueueing_the_same_firing_twice_is_one_work_item(configured):
    key = "trigger:cron://plant/backup:f9"
    first = queue.enqueue(configured, "plant-7", key, "trigger", "cron://plant/backup", {"firing_id": "f9"})
    second = queue.enqueue(configured, "plant-7", key, "trigger", "cron://plant/backup", {"firing_id": "f9"})
    assert first.id == second.id and second.attempt == 1
    queue.finish(configured, "plant-7", first.id, ok=False, result=None, error="down", retryable=True)
    third = queue.enqueue(configured, "plant-7", key, "trigger", "cron://plant/backup", {"firing_id": "f9"})
    assert third.id == first.id and third.state == "queued" and third.attempt == 2


async def test_a_long_poll_answers_as_soon_as_work_arrives(http, configured, settings):
    settings.long_poll_seconds = 5.0
    a = agent_headers("a1")
    await http.post("/api/agent/pull", headers=a, json={"wait": 0})

    async def later():
        await asyncio.sleep(0.3)
        await asyncio.to_thread(queue.enqueue, configured, "plant-7", "logs:2", "logs",
                                "cron://plant/backup", {"native_id": "backup", "run_id": "r1"})

    loop = asyncio.get_running_loop()
    began = loop.time()
    answer, _ = await asyncio.gather(http.post("/api/agent/pull", headers=a, json={"wait": 5}), later())
    assert [w["kind"] for w in answer.json()["work"]] == ["logs"]
    assert loop.time() - began < 4.0  # answered on arrival, not at the end of the wait


async def test_a_trigger_of_a_zone_job_is_queued_and_answered_by_the_agent(http, configured, settings):
    from unifier.actions import trigger_job
    from unifier.errors import ToolUnavailable

    with pytest.raises(ToolUnavailable, match="no agent has called in yet"):  # at once, not after a wait
        await trigger_job(configured, "cron://plant/backup", {"day": "mon"}, firing_id="manual-1")
    assert (await http.get("/api/zones")).json()[0]["backlog"] == 1
    a = agent_headers("a1")
    work = (await http.post("/api/agent/pull", headers=a, json={"wait": 0})).json()["work"]
    assert [(w["kind"], w["job"], w["payload"]["firing_id"], w["payload"]["params"]) for w in work] == [
        ("trigger", "cron://plant/backup", "manual-1", {"day": "mon"})]
    settings.answer_wait_seconds = 5.0
    started = build_run("cron://plant/backup", "trig-1", RunState.RUNNING)

    async def agent_answers():
        await asyncio.sleep(0.2)
        await http.post("/api/agent/ack", headers=a, json={"ids": [work[0]["id"]]})
        await http.post("/api/agent/outbox", headers=a, json={"messages": [{
            "seq": 1, "kind": "result", "at": "2026-11-28T10:00:00+00:00", "work_id": work[0]["id"],
            "ok": True, "run": json.loads(started.model_dump_json())}]})

    # the same firing id again (a retry): it finds the work queued the first time
    run, _ = await asyncio.gather(
        trigger_job(configured, "cron://plant/backup", {"day": "mon"}, firing_id="manual-1"), agent_answers())
    assert run.run_id == "trig-1"
    assert configured.get_run("cron://plant/backup", "trig-1").cause.firing_id == "manual-1"
    assert (await http.get("/api/zones")).json()[0]["backlog"] == 0


async def test_unifier_zones_prints_what_the_api_answers(http, configured, catalog_url, monkeypatch):
    from tests.cli_helpers import run_cli

    monkeypatch.setenv("UNIFIER_DATABASE_URL", catalog_url)
    await http.post("/api/agent/pull", headers=agent_headers("a1", name="plant-a"), json={"wait": 0})
    queue.enqueue(configured, "plant-7", "logs:9", "logs", "cron://plant/backup", {"native_id": "backup"})
    result = run_cli("zones", "-o", "json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    answered = (await http.get("/api/zones")).json()
    for rows in (printed, answered):  # the age moves between the two reads
        for row in rows:
            row.pop("oldest_waiting_seconds")
    assert printed == answered
    assert [(r["zone"], r["agent"], r["backlog"]) for r in printed] == [("plant-7", "plant-a", 1)]
    table = run_cli("zones")
    assert table.exit_code == 0 and "plant-a" in table.stdout
    instances = json.loads(run_cli("instances", "-o", "json").stdout)
    assert {i["name"]: i["zone"] for i in instances} == {"ci": "plant-7", "office": None, "plant": "plant-7"}
