"""What kmock cannot show, shown against recorded API responses over real HTTP.

kmock has no resourceVersion, never answers 410 Gone, replays every object on every
watch and ignores label selectors. Here a scripted server (recorded_server.py) answers
the real ``kubernetes`` client with responses in the exact shapes kube-apiserver sends
(recorded/README.md), so these tests pin down the behaviour a real cluster relies on:
resuming a watch from the last event read, relisting on 410, paging, selectors, and the
state of every kind of Job the job controller writes.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from kmock_cluster import write_kubeconfig
from recorded_server import RecordedApi, Reply, Seen, recorded, status

from unifier.adapters.kubernetes import objects
from unifier.adapters.kubernetes.adapter import KubernetesAdapter
from unifier.adapters.kubernetes.settings import KubernetesSettings
from unifier.errors import AdapterError, ToolUnavailable
from unifier.model import CauseKind, RunState

JOBS = "/apis/batch/v1/namespaces/batch/jobs"
ALL_JOBS = "/apis/batch/v1/jobs"
JOB_URI = "kubernetes://rec/batch/nightly-report"


def at_version(obj: dict[str, Any], version: int, **meta: Any) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = str(version)
    obj["metadata"].update(meta)
    return obj


def job_list(version: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {"resourceVersion": version},
            "items": [copy.deepcopy(i) for i in items]}


@pytest.fixture
def make_adapter(tmp_path):
    made = []

    def make(api: RecordedApi, **config: Any) -> KubernetesAdapter:
        config.setdefault("watch_timeout", 0.5)
        config["kubeconfig"] = str(write_kubeconfig(tmp_path / "kubeconfig", api.url))
        adapter = KubernetesAdapter("rec", KubernetesSettings(**config))
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.api.close()


# --------------------------------------------------------------------------- states


@pytest.mark.parametrize("fixture, native, state", [
    ("job_pending.json", "Pending", RunState.QUEUED),
    ("job_running.json", "Active", RunState.RUNNING),
    ("job_suspended.json", "Suspended", RunState.QUEUED),
    ("job_success_criteria_met.json", "SuccessCriteriaMet", RunState.SUCCEEDED),
    ("job_complete.json", "Complete", RunState.SUCCEEDED),
    ("job_failed.json", "Failed", RunState.FAILED),
    ("job_deadline_exceeded.json", "Failed", RunState.FAILED),
    ("job_terminating.json", "Terminating", RunState.CANCELLED),
])
def test_state_of_each_recorded_job(fixture, native, state):
    run = objects.run_from_job(recorded(fixture), JOB_URI)
    assert (run.native_state, run.state) == (native, state)
    assert run.native_state in KubernetesAdapter.state_map
    assert run.version == int(recorded(fixture)["metadata"]["resourceVersion"])
    assert run.cause.kind == CauseKind.SCHEDULE  # created by the CronJob controller


def test_times_and_reasons_come_from_the_job():
    done = objects.run_from_job(recorded("job_complete.json"), JOB_URI)
    assert done.queued_at == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert done.started_at == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert done.ended_at == datetime(2026, 11, 24, 2, 3, 41, tzinfo=UTC)
    failed = objects.run_from_job(recorded("job_deadline_exceeded.json"), JOB_URI)
    assert failed.ended_at == datetime(2026, 11, 24, 4, 10, 2, tzinfo=UTC)  # no completionTime
    assert failed.details["reason"] == "DeadlineExceeded"


def test_a_finished_job_deleted_later_keeps_its_outcome():
    # history limits and ttlSecondsAfterFinished delete finished Jobs: not a cancel
    assert objects.native_state(recorded("job_complete.json"), deleted=True)[0] == "Complete"
    assert objects.native_state(recorded("job_running.json"), deleted=True)[0] == "Deleted"


# --------------------------------------------------------------------------- list, then watch


async def test_first_cycle_lists_every_page_then_watches_from_the_lists_version(make_adapter):
    def route(seen: Seen) -> Reply:
        if seen.path == ALL_JOBS and not seen.watch:
            page = "joblist_page2.json" if seen.query.get("continue") else "joblist_page1.json"
            return Reply(body=recorded(page))
        if seen.path == ALL_JOBS and seen.watch:
            return Reply(lines=[])
        return Reply(404, status(404, "NotFound", "not found"))

    with RecordedApi(route) as api:
        adapter = make_adapter(api, page_size=1)
        first = await adapter.changes(None)
        assert {r.run_id for r in first.runs} == {"nightly-report-29400600", "nightly-report-29400660"}
        assert first.requests == 2
        pages = api.requests(ALL_JOBS, watch=False)
        assert [p.query.get("limit") for p in pages] == ["1", "1"]
        assert pages[1].query["continue"] == recorded("joblist_page1.json")["metadata"]["continue"]

        second = await adapter.changes(first.watermark)
        watch = api.requests(ALL_JOBS, watch=True)[0]
        assert watch.query["resourceVersion"] == "48215"
        assert watch.query["allowWatchBookmarks"] == "true"
        assert watch.query["timeoutSeconds"] == "1"
        assert (second.runs, second.requests) == ([], 1)


async def test_expired_continue_token_restarts_the_list(make_adapter):
    calls = {"n": 0}

    def route(seen: Seen) -> Reply:
        calls["n"] += 1
        if seen.query.get("continue") and calls["n"] == 2:
            return Reply(410, recorded("list_expired_continue.json"))
        page = "joblist_page2.json" if seen.query.get("continue") else "joblist_page1.json"
        return Reply(body=recorded(page))

    with RecordedApi(route) as api:
        first = await make_adapter(api).changes(None)
    assert [bool(s.query.get("continue")) for s in api.seen] == [False, True, False, True]
    assert len(first.runs) == 2


async def test_a_watch_dropped_mid_sync_loses_no_run(make_adapter):
    """The acceptance case: the stream breaks after two events; the cycle keeps them
    and stores the version of the last one; the next cycle resumes from exactly there
    and gets the change that happened after the break."""
    running = at_version(recorded("job_running.json"), 48300)
    other = at_version(recorded("job_failed.json"), 48301)
    done = at_version(recorded("job_complete.json"), 48302)
    script = [
        Reply(lines=[{"type": "MODIFIED", "object": running}, {"type": "ADDED", "object": other}],
              drop=True),
        Reply(lines=[{"type": "MODIFIED", "object": done}]),
    ]

    def route(seen: Seen) -> Reply:
        if not seen.watch:
            return Reply(body=job_list("48215"))
        return script.pop(0) if script else Reply(lines=[])

    with RecordedApi(route) as api:
        adapter = make_adapter(api)
        listed = await adapter.changes(None)
        broken = await adapter.changes(listed.watermark)
        assert {(r.run_id, r.state) for r in broken.runs} == {
            ("nightly-report-29400600", RunState.RUNNING), ("nightly-report-29400660", RunState.FAILED)}
        assert any("watch ended early" in note for note in broken.notes)
        resumed = await adapter.changes(broken.watermark)
        watches = api.requests(ALL_JOBS, watch=True)
        assert [w.query["resourceVersion"] for w in watches] == ["48215", "48301"]
        assert [(r.run_id, r.state, r.version) for r in resumed.runs] == [
            ("nightly-report-29400600", RunState.SUCCEEDED, 48302)]


async def test_a_new_process_resumes_from_the_stored_watermark(make_adapter):
    done = at_version(recorded("job_complete.json"), 48400)

    def route(seen: Seen) -> Reply:
        assert seen.watch and seen.query["resourceVersion"] == "48399"
        return Reply(lines=[{"type": "MODIFIED", "object": done}])

    with RecordedApi(route) as api:
        adapter = make_adapter(api)  # nothing in memory: only the watermark
        changed = await adapter.changes('{"resourceVersions":{"":"48399"}}')
    assert [(r.run_id, r.state) for r in changed.runs] == [("nightly-report-29400600", RunState.SUCCEEDED)]
    assert changed.requests == 1


@pytest.mark.parametrize("expired", ["error_event", "http_410"])
async def test_410_gone_relists_and_finds_what_changed_and_what_vanished(make_adapter, expired):
    running = at_version(recorded("job_running.json"), 48215)
    pending = at_version(recorded("job_pending.json"), 48210, name="nightly-report-29400540",
                         uid="aaaaaaaa-0000-4000-8000-000000000001")
    finished = at_version(recorded("job_complete.json"), 49870)
    state = {"phase": "list"}

    def route(seen: Seen) -> Reply:
        if not seen.watch and state["phase"] == "list":
            state["phase"] = "watch"
            return Reply(body=job_list("48215", running, pending))
        if seen.watch:
            if expired == "http_410":
                return Reply(410, recorded("watch_expired_event.json")["object"])
            return Reply(lines=[recorded("watch_expired_event.json")])
        # the relist: one Job finished meanwhile, the pending one was deleted unseen
        return Reply(body=job_list("49871", finished))

    with RecordedApi(route) as api:
        adapter = make_adapter(api)
        listed = await adapter.changes(None)
        assert len(listed.runs) == 2
        relisted = await adapter.changes(listed.watermark)
    by_id = {r.run_id: r for r in relisted.runs}
    assert by_id["nightly-report-29400600"].state == RunState.SUCCEEDED
    assert (by_id["nightly-report-29400540"].state, by_id["nightly-report-29400540"].native_state) == (
        RunState.CANCELLED, "Deleted")
    assert relisted.requests == 2  # the watch that said 410, and the relist
    assert '"resourceVersions":{"":"49871"}' in relisted.watermark
    assert any("410" in note for note in relisted.notes)


async def test_deleted_events_cancel_only_unfinished_runs(make_adapter):
    running = at_version(recorded("job_running.json"), 48500)
    finished = at_version(recorded("job_failed.json"), 48501)
    lines = [{"type": "DELETED", "object": running}, {"type": "DELETED", "object": finished}]

    def route(seen: Seen) -> Reply:
        if not seen.watch:
            return Reply(body=job_list("48499", running, finished))
        return Reply(lines=lines)

    with RecordedApi(route) as api:
        adapter = make_adapter(api)
        listed = await adapter.changes(None)
        deleted = await adapter.changes(listed.watermark)
    # the running one was cancelled (kubectl delete, or unifier's cancel); the failed one
    # was pruned by the CronJob's history limit: nothing new about it
    assert [(r.run_id, r.state, r.native_state) for r in deleted.runs] == [
        ("nightly-report-29400600", RunState.CANCELLED, "Deleted")]


async def test_bookmarks_advance_the_watermark_without_runs(make_adapter):
    def route(seen: Seen) -> Reply:
        return Reply(lines=[recorded("watch_bookmark_event.json")])

    with RecordedApi(route) as api:
        changed = await make_adapter(api).changes('{"resourceVersions":{"":"48950"}}')
    assert changed.runs == []
    assert '"resourceVersions":{"":"48990"}' in changed.watermark


async def test_one_watch_per_namespace_whatever_the_number_of_jobs(make_adapter):
    many = [at_version(recorded("job_running.json"), 50000 + i, name=f"nightly-report-{i}",
                       uid=f"uid-{i}") for i in range(200)]

    def route(seen: Seen) -> Reply:
        if not seen.watch:
            return Reply(body=job_list("50000", *[m for m in many if m["metadata"]["namespace"] in seen.path]))
        return Reply(lines=[])

    with RecordedApi(route) as api:
        adapter = make_adapter(api, namespaces=["batch", "reports"])
        listed = await adapter.changes(None)
        assert (len(listed.runs), listed.requests) == (200, 2)
        quiet = await adapter.changes(listed.watermark)
    assert (quiet.runs, quiet.requests) == ([], 2)
    assert {s.path for s in api.seen} == {JOBS, "/apis/batch/v1/namespaces/reports/jobs"}


# --------------------------------------------------------------------------- selectors, discovery


async def test_job_selector_goes_to_the_server_and_is_checked_locally(make_adapter):
    selected = recorded("job_standalone.json")
    unlabelled = copy.deepcopy(selected)
    unlabelled["metadata"].update(name="someone-elses", labels={"job-name": "someone-elses"})

    def route(seen: Seen) -> Reply:
        if seen.path.endswith("/cronjobs"):
            return Reply(body=recorded("cronjoblist.json"))
        # a server that ignored the selector (as kmock does) must not fool the adapter
        return Reply(body=job_list("48300", selected, unlabelled))

    with RecordedApi(route) as api:
        adapter = make_adapter(api, job_selector="team=data")
        jobs = {j.native_id: j for j in await adapter.discover()}
        listed = await adapter.changes(None)
    assert set(jobs) == {"batch/nightly-report", "batch/job/adhoc-backfill"}
    assert [s.query.get("labelSelector") for s in api.seen if s.path.endswith("/jobs")][0] == "team=data"
    assert [(r.job, r.run_id) for r in listed.runs] == [
        ("kubernetes://rec/batch/job/adhoc-backfill", "adhoc-backfill")]


async def test_discover_reads_schedule_time_zone_and_next_run(make_adapter):
    cronjobs = recorded("cronjoblist.json")
    winter = cronjobs["items"][0]
    summer = copy.deepcopy(winter)
    summer["metadata"]["name"] = "summer-report"
    winter["status"]["lastScheduleTime"] = "2030-01-10T02:00:00Z"  # 03:00 CET
    summer["status"]["lastScheduleTime"] = "2030-07-10T01:00:00Z"  # 03:00 CEST
    cronjobs["items"].append(summer)

    with RecordedApi(lambda seen: Reply(body=cronjobs)) as api:
        adapter = make_adapter(api, dashboard_url="https://dash.example/#/cronjob/{namespace}/{name}")
        jobs = {j.native_id: j for j in await adapter.discover()}
    job = jobs["batch/nightly-report"]
    assert (job.schedule, job.timezone, job.paused) == ("0 3 * * *", "Europe/Berlin", False)
    assert job.next_run_at == datetime(2030, 1, 11, 2, 0, tzinfo=UTC)
    assert jobs["batch/summer-report"].next_run_at == datetime(2030, 7, 11, 1, 0, tzinfo=UTC)
    assert job.url == "https://dash.example/#/cronjob/batch/nightly-report"
    assert job.description == "Nightly sales report"
    assert job.extra["concurrencyPolicy"] == "Forbid"


# --------------------------------------------------------------------------- errors


async def test_server_errors_and_garbage_are_adapter_errors(make_adapter):
    replies = [Reply(503, status(503, "ServiceUnavailable", "etcdserver: leader changed")),
               Reply(raw=b"<html>proxy error</html>"),
               Reply(403, status(403, "Forbidden", 'jobs.batch is forbidden: User "x" cannot list')),
               Reply(lines=[{"type": "ERROR", "object": status(500, "InternalError", "boom")}])]

    with RecordedApi(lambda seen: replies.pop(0)) as api:
        adapter = make_adapter(api)
        with pytest.raises(ToolUnavailable, match="leader changed"):
            await adapter.changes(None)
        with pytest.raises(AdapterError, match="garbage"):
            await adapter.changes(None)
        with pytest.raises(AdapterError, match="RBAC"):
            await adapter.changes(None)
        with pytest.raises(ToolUnavailable, match="boom"):
            await adapter.changes('{"resourceVersions":{"":"1"}}')
