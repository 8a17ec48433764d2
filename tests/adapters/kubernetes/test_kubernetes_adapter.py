"""The Kubernetes adapter against kmock (real HTTP, the real client) with the stand-in
job controller of kmock_cluster.py: triggering like kubectl, idempotency, parameters,
cancel, logs, discovery and what a sync cycle costs."""

from __future__ import annotations

import asyncio
import json

import pytest
from kmock_cluster import CRONJOBS, JOBS, Cluster, cronjob, write_kubeconfig

from unifier.adapters.kubernetes import objects
from unifier.errors import AdapterError, NotFound, ToolUnavailable, TriggerRefused
from unifier.model import CauseKind, RunState
from unifier.testing.conformance import wait_terminal


def stored_jobs(cluster: Cluster) -> list[dict]:
    return [obj.raw for (res, _ns, _n), obj in cluster.emulator.objects.items()
            if res == JOBS and not obj.deleted]


# --------------------------------------------------------------------------- trigger


async def test_retried_trigger_creates_one_job_not_two(cluster, make_adapter):
    first = make_adapter()
    run = await first.trigger("batch/hello", {"greeting": "hi"}, "firing-42")
    # the retry comes from another process (the first crashed before recording the run)
    again = await make_adapter().trigger("batch/hello", {"greeting": "hi"}, "firing-42")
    assert again.run_id == run.run_id
    created = [j for j in stored_jobs(cluster)
               if j["metadata"]["annotations"].get(objects.FIRING_ANNOTATION) == "firing-42"]
    assert len(created) == 1
    posts = [r for r in cluster.requests_to("/namespaces/batch/jobs") if r.method.value == "POST"]
    assert len(posts) == 2  # the second create was refused with 409 AlreadyExists


async def test_a_name_taken_by_another_firing_is_refused(cluster, make_adapter):
    adapter = make_adapter()
    name = objects.job_name_for_firing("hello", "firing-7")
    await cluster.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": {
        "name": name, "namespace": "batch", "annotations": {objects.FIRING_ANNOTATION: "someone-else"},
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello", "uid": "x"}]},
        "spec": {}})
    with pytest.raises(TriggerRefused, match="not created by firing 'firing-7'"):
        await adapter.trigger("batch/hello", {}, "firing-7")


async def test_trigger_creates_the_job_kubectl_would_plus_the_firing(cluster, make_adapter):
    adapter = make_adapter()
    params = {"greeting": "hello from unifier", "retries": 3, "dry_run": True}
    run = await adapter.trigger("batch/hello", params, "firing-abc")
    assert run.run_id == objects.job_name_for_firing("hello", "firing-abc")
    assert run.run_id.startswith("hello-") and len(run.run_id) <= 63
    assert (run.state, run.cause.kind, run.cause.firing_id) == (RunState.QUEUED, CauseKind.TRIGGER, "firing-abc")
    [job] = [j for j in stored_jobs(cluster) if j["metadata"]["name"] == run.run_id]
    md = job["metadata"]
    cron = cluster.emulator.objects[CRONJOBS, "batch", "hello"].raw
    assert md["annotations"][objects.INSTANTIATE_ANNOTATION] == "manual"
    assert md["annotations"][objects.FIRING_ANNOTATION] == "firing-abc"
    assert json.loads(md["annotations"][objects.PARAMETERS_ANNOTATION]) == params
    assert md["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello",
                                      "uid": cron["metadata"]["uid"]}]
    assert md["labels"] == {"app": "hello"}  # the jobTemplate's labels
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    # a parameter replaces the template's value in place; the others are appended
    assert env == [{"name": "greeting", "value": "hello from unifier"},
                   {"name": "retries", "value": "3"}, {"name": "dry_run", "value": "true"},
                   {"name": "UNIFIER_FIRING_ID", "value": "firing-abc"}]
    final = await wait_terminal(adapter, "batch/hello", run.run_id, 10)
    assert final.parameters == params
    assert "main: greeting=hello from unifier" in await adapter.logs("batch/hello", run.run_id)


@pytest.mark.parametrize("bad", ["1st", "a=b", "with space", "UNIFIER_FIRING_ID"])
async def test_a_parameter_that_cannot_be_an_env_var_is_refused(cluster, make_adapter, bad):
    with pytest.raises(TriggerRefused, match="parameter"):
        await make_adapter().trigger("batch/hello", {bad: "x"}, f"firing-{len(bad)}")
    assert stored_jobs(cluster) == []


async def test_unknown_jobs_and_runs_are_not_found(cluster, make_adapter):
    adapter = make_adapter()
    with pytest.raises(NotFound):
        await adapter.trigger("batch/no-such-cronjob", {}, "f")
    with pytest.raises(NotFound):
        await adapter.status("not-a-kubernetes-id", "x")
    with pytest.raises(NotFound):
        await adapter.status("batch/hello", "Not_A_Job_Name")
    other = await adapter.trigger("batch/report-fails", {}, "f2")
    with pytest.raises(NotFound, match="not a run of batch/hello"):
        await adapter.status("batch/hello", other.run_id)


async def test_namespaces_limit_what_the_instance_sees(cluster, make_adapter):
    await cluster.apply(cronjob("other", "elsewhere"))
    adapter = make_adapter(namespaces=["other"])
    assert [j.native_id for j in await adapter.discover()] == ["other/elsewhere"]
    with pytest.raises(NotFound, match="not watched"):
        await adapter.trigger("batch/hello", {}, "f3")


# --------------------------------------------------------------------------- cancel, logs


async def test_cancel_deletes_with_foreground_propagation(cluster, make_adapter):
    adapter = make_adapter()
    watermark = (await adapter.changes(None)).watermark
    run = await adapter.trigger("batch/slow-sleeper", {}, "firing-slow")
    await adapter.cancel("batch/slow-sleeper", run.run_id)
    [delete] = [r for r in cluster.requests_to(f"/jobs/{run.run_id}") if r.method.value == "DELETE"]
    assert delete.params["propagationPolicy"] == "Foreground"
    seen = {}
    for _ in range(50):  # the garbage collector removes the pod, then the Job
        for r in (await adapter.changes(watermark)).runs:
            seen[r.native_state] = r.state
        watermark = adapter._reported_for
        if "Deleted" in seen or not [j for j in stored_jobs(cluster) if j["metadata"]["name"] == run.run_id]:
            break
        await asyncio.sleep(0.1)
    assert seen.get("Terminating", seen.get("Deleted")) == RunState.CANCELLED
    with pytest.raises(NotFound):
        await adapter.status("batch/slow-sleeper", run.run_id)


async def test_cancel_with_background_propagation_removes_the_job_at_once(cluster, make_adapter):
    # The DELETED watch event this causes is reported as a cancelled run: kmock cannot
    # show that (its watch has no history), test_kubernetes_recorded_api.py does.
    adapter = make_adapter(cancel_propagation="Background")
    run = await adapter.trigger("batch/slow-sleeper", {}, "firing-bg")
    await adapter.cancel("batch/slow-sleeper", run.run_id)
    [delete] = [r for r in cluster.requests_to(f"/jobs/{run.run_id}") if r.method.value == "DELETE"]
    assert delete.params["propagationPolicy"] == "Background"
    with pytest.raises(NotFound):
        await adapter.status("batch/slow-sleeper", run.run_id)


async def test_cancelling_a_finished_run_leaves_it_alone(cluster, make_adapter):
    adapter = make_adapter()
    run = await adapter.trigger("batch/hello", {}, "firing-done")
    await wait_terminal(adapter, "batch/hello", run.run_id, 10)
    await adapter.cancel("batch/hello", run.run_id)
    assert not [r for r in cluster.requests_to(f"/jobs/{run.run_id}") if r.method.value == "DELETE"]
    assert (await adapter.status("batch/hello", run.run_id)).state == RunState.SUCCEEDED


async def test_logs_are_only_the_runs_own_pods(cluster, make_adapter):
    adapter = make_adapter()
    run = await adapter.trigger("batch/hello", {}, "firing-logs")
    await wait_terminal(adapter, "batch/hello", run.run_id, 10)
    # kmock ignores the job-name selector and lists this pod too: the adapter must not
    await cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "intruder", "namespace": "batch", "labels": {"job-name": "something-else"}}, "spec": {}})
    cluster.controller.logs[("batch", "intruder")] = "not mine\n"
    text = await adapter.logs("batch/hello", run.run_id)
    assert f"job {run.run_id} started" in text and "not mine" not in text
    [listing] = [r for r in cluster.requests_to("/namespaces/batch/pods") if r.method.value == "GET"
                 and "/log" not in str(r.url)]
    assert listing.params["labelSelector"] == f"job-name={run.run_id}"
    [log] = cluster.requests_to(f"/pods/{run.run_id}-pod/log")
    assert (log.params["container"], log.params["limitBytes"]) == ("main", "1048576")


# --------------------------------------------------------------------------- discovery and sync


async def test_discover_lists_cronjobs_with_their_facts(cluster, make_adapter):
    await cluster.apply(cronjob("batch", "paused", "0 4 * * 1", suspend=True, timeZone="America/New_York"))
    jobs = {j.native_id: j for j in await make_adapter().discover()}
    assert set(jobs) == {"batch/hello", "batch/report-fails", "batch/slow-sleeper", "batch/paused"}
    paused = jobs["batch/paused"]
    assert (paused.schedule, paused.timezone, paused.paused, paused.next_run_at) == (
        "0 4 * * 1", "America/New_York", True, None)
    hello = jobs["batch/hello"]
    assert (hello.timezone, hello.paused, hello.tags) == ("UTC", False, ["team=data"])
    assert hello.next_run_at is not None and hello.next_run_at.minute % 5 == 0


async def test_standalone_jobs_only_when_selected(cluster, make_adapter):
    for name, labels in (("backfill", {"team": "data"}), ("unrelated", {"team": "web"})):
        await cluster.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": {
            "name": name, "namespace": "batch", "labels": labels}, "spec": {}})
    plain = make_adapter()
    assert not [j for j in await plain.discover() if "/job/" in j.native_id]
    assert not [r for r in (await plain.changes(None)).runs if "/job/" in r.job]
    selecting = make_adapter(job_selector="team=data")
    assert [j.native_id for j in await selecting.discover() if "/job/" in j.native_id] == ["batch/job/backfill"]
    runs = (await selecting.changes(None)).runs
    assert [(r.job.rsplit("/", 2)[-1], r.run_id) for r in runs if "/job/" in r.job] == [("backfill", "backfill")]
    with pytest.raises(TriggerRefused, match="standalone"):
        await selecting.trigger("batch/job/backfill", {}, "f")


async def test_a_sync_cycle_costs_one_request_whatever_the_number_of_jobs(cluster, make_adapter):
    adapter = make_adapter()
    for i in range(20):
        await cluster.apply(cronjob("batch", f"many-{i}"))
    runs = await asyncio.gather(*(adapter.trigger(f"batch/many-{i}", {}, f"firing-many-{i}")
                                  for i in range(20)))
    await cluster.controller.settled({run.run_id for run in runs})
    first = await adapter.changes(None)
    second = await adapter.changes(first.watermark)
    assert (first.requests, second.requests) == (1, 1)
    assert len(first.runs) == 20 and second.runs == []


async def test_runs_that_change_between_cycles_are_reported_once(cluster, make_adapter):
    adapter = make_adapter()
    cluster.controller.paused = True  # nothing moves until we say so
    run = await adapter.trigger("batch/hello", {}, "firing-cycles")
    first = await adapter.changes(None)
    assert [(r.run_id, r.state) for r in first.runs] == [(run.run_id, RunState.QUEUED)]
    cluster.controller.paused = False
    await wait_terminal(adapter, "batch/hello", run.run_id, 10)
    second = await adapter.changes(first.watermark)
    assert [(r.run_id, r.state) for r in second.runs] == [(run.run_id, RunState.SUCCEEDED)]
    assert (await adapter.changes(second.watermark)).runs == []
    # a caller that did not keep the last watermark gets everything again (at-least-once)
    assert [r.run_id for r in (await adapter.changes(first.watermark)).runs] == [run.run_id]


# --------------------------------------------------------------------------- errors


async def test_an_unreachable_cluster_is_tool_unavailable(tmp_path, make_adapter):
    dead = write_kubeconfig(tmp_path / "dead", "http://127.0.0.1:9")
    adapter = make_adapter(kubeconfig=str(dead), request_timeout=2)
    with pytest.raises(ToolUnavailable, match="cannot reach"):
        await adapter.changes(None)
    health = await adapter.health()
    assert not health.ok and "cannot reach" in health.message


async def test_a_missing_kubeconfig_is_named(tmp_path, make_adapter):
    adapter = make_adapter(kubeconfig=str(tmp_path / "nope"))
    with pytest.raises(AdapterError, match="nope"):
        await adapter.discover()
