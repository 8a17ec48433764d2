"""The catalog's invariants, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from unifier.errors import NotFound
from unifier.model import Cause, CauseKind, EventType, RunState, utcnow
from unifier.testing import build_job, build_run

JOB = "fake://demo/etl"


@pytest.fixture
def demo(catalog):
    catalog.put_instance("demo", "fake", {"config": {}}, "hash-1", "test")
    return catalog


def events_of(catalog, run_id):
    return [(e.attempt, e.event_type, e.state) for _, e in catalog.list_events() if e.run_id == run_id]


def test_run_lifecycle_appends_one_event_per_state_change(demo):
    t0 = utcnow()
    demo.record_runs([build_run(JOB, "r1", RunState.QUEUED, queued_at=t0)])
    demo.record_runs([build_run(JOB, "r1", RunState.RUNNING, started_at=t0)])
    demo.record_runs([build_run(JOB, "r1", RunState.RUNNING, started_at=t0)])  # no change
    demo.record_runs([build_run(JOB, "r1", RunState.FAILED, started_at=t0, ended_at=t0 + timedelta(seconds=5))])
    assert events_of(demo, "r1") == [
        (1, EventType.START, RunState.QUEUED),
        (1, EventType.RUNNING, RunState.RUNNING),
        (1, EventType.FAIL, RunState.FAILED),
    ]
    assert demo.get_run(JOB, "r1").state == RunState.FAILED


def test_late_older_observation_never_moves_state_backwards(demo):
    t0 = utcnow()
    demo.record_runs([build_run(JOB, "r1", RunState.SUCCEEDED, started_at=t0, ended_at=t0)])
    demo.record_runs([build_run(JOB, "r1", RunState.RUNNING, started_at=t0)])
    demo.record_runs([build_run(JOB, "r1", RunState.QUEUED, queued_at=t0 - timedelta(seconds=1))])
    assert demo.get_run(JOB, "r1").state == RunState.SUCCEEDED
    assert [e[2] for e in events_of(demo, "r1")] == [RunState.QUEUED, RunState.SUCCEEDED]


def test_version_orders_observations_of_one_attempt(demo):
    t0 = utcnow()
    demo.record_runs([build_run(JOB, "r1", RunState.RUNNING, started_at=t0, version=7)])
    # version 5 is older even though "succeeded" ranks higher: ignored
    demo.record_runs([build_run(JOB, "r1", RunState.SUCCEEDED, started_at=t0, version=5)])
    assert demo.get_run(JOB, "r1").state == RunState.RUNNING
    demo.record_runs([build_run(JOB, "r1", RunState.FAILED, started_at=t0, version=9)])
    assert demo.get_run(JOB, "r1").state == RunState.FAILED


def test_out_of_order_batch_settles_on_newest(demo):
    t0 = utcnow()
    batch = [build_run(JOB, "r1", RunState.SUCCEEDED, started_at=t0, ended_at=t0, version=3),
             build_run(JOB, "r1", RunState.RUNNING, started_at=t0, version=2),
             build_run(JOB, "r1", RunState.QUEUED, version=1)]
    demo.record_runs(batch)
    assert demo.get_run(JOB, "r1").state == RunState.SUCCEEDED


def test_tool_restart_becomes_new_attempt(demo):
    t0 = utcnow()
    demo.record_runs([build_run(JOB, "r1", RunState.FAILED, started_at=t0, ended_at=t0 + timedelta(seconds=2))])
    # the tool cleared the run: same id, started again after it ended
    demo.record_runs([build_run(JOB, "r1", RunState.RUNNING, started_at=t0 + timedelta(seconds=60))])
    run = demo.get_run(JOB, "r1")
    assert (run.attempt, run.state, run.ended_at) == (2, RunState.RUNNING, None)
    demo.record_runs([build_run(JOB, "r1", RunState.SUCCEEDED, started_at=t0 + timedelta(seconds=60),
                                ended_at=t0 + timedelta(seconds=70))])
    assert events_of(demo, "r1") == [
        (1, EventType.START, RunState.QUEUED), (1, EventType.FAIL, RunState.FAILED),
        (2, EventType.START, RunState.QUEUED), (2, EventType.RUNNING, RunState.RUNNING),
        (2, EventType.COMPLETE, RunState.SUCCEEDED),
    ]
    # a late view of attempt 1 changes nothing, whether the tool numbers attempts or not
    demo.record_runs([build_run(JOB, "r1", RunState.FAILED, attempt=1, started_at=t0, ended_at=t0)])
    demo.record_runs([build_run(JOB, "r1", RunState.FAILED, started_at=t0, ended_at=t0)])
    run = demo.get_run(JOB, "r1")
    assert (run.attempt, run.state) == (2, RunState.SUCCEEDED)


def test_cause_recorded_by_unifier_outranks_tool_report(demo):
    cause = Cause(kind=CauseKind.TRIGGER, trigger="t", firing_id="f-1")
    demo.record_runs([build_run(JOB, "r1", RunState.QUEUED, cause=cause)])
    demo.record_runs([build_run(JOB, "r1", RunState.SUCCEEDED, cause=Cause(kind=CauseKind.MANUAL))])
    assert demo.get_run(JOB, "r1").cause == cause


def test_jobs_upsert_marks_removed_and_revives(demo):
    counts = demo.upsert_jobs("demo", [build_job("fake://demo/a"), build_job("fake://demo/b")])
    assert counts == {"added": 2, "updated": 0, "removed": 0}
    assert demo.upsert_jobs("demo", [build_job("fake://demo/a")]) == {"added": 0, "updated": 0, "removed": 1}
    assert [j.uri for j in demo.list_jobs()] == ["fake://demo/a"]
    with pytest.raises(NotFound):
        demo.get_job("fake://demo/b")
    counts = demo.upsert_jobs("demo", [build_job("fake://demo/a", schedule="@daily"), build_job("fake://demo/b")])
    assert counts == {"added": 0, "updated": 2, "removed": 0}


def test_instance_put_is_created_configured_unchanged(catalog):
    assert catalog.put_instance("x", "fake", {"config": {}}, "h1", None) == "created"
    assert catalog.put_instance("x", "fake", {"config": {}}, "h1", None) == "unchanged"
    assert catalog.put_instance("x", "fake", {"config": {"a": 1}}, "h2", None) == "configured"
    catalog.update_sync_state("x", watermark="w")
    catalog.delete_instance("x")
    with pytest.raises(NotFound):
        catalog.get_instance("x")


def test_list_runs_filters(demo):
    demo.record_runs([build_run(JOB, "ok", RunState.SUCCEEDED), build_run(JOB, "bad", RunState.FAILED),
                      build_run("fake://demo/other", "x", RunState.RUNNING)])
    assert {r.run_id for r in demo.list_runs(job=JOB)} == {"ok", "bad"}
    assert {r.run_id for r in demo.list_runs(states=[RunState.FAILED, RunState.RUNNING])} == {"bad", "x"}
    assert demo.list_runs(since=utcnow() + timedelta(minutes=1)) == []
    assert set(demo.latest_runs()) == {JOB, "fake://demo/other"}


def test_audit_log(catalog):
    catalog.audit("trigger", "fake://demo/etl", {"run_id": "r"}, actor="alice")
    [entry] = catalog.list_audit()
    assert (entry["actor"], entry["action"], entry["detail"]) == ("alice", "trigger", {"run_id": "r"})


def test_events_export_as_openlineage(demo):
    from unifier.lineage import to_openlineage

    t0 = utcnow()
    demo.record_runs([build_run(JOB, "r1", RunState.SUCCEEDED, started_at=t0, ended_at=t0)])
    exported = [to_openlineage(e) for _, e in demo.list_events()]
    assert [e["eventType"] for e in exported] == ["START", "COMPLETE"]
    assert exported[0]["job"] == {"namespace": "fake://demo", "name": "etl"}
    assert exported[0]["run"]["runId"] == exported[1]["run"]["runId"]  # one run, one UUID
    import uuid

    uuid.UUID(exported[0]["run"]["runId"])
    assert exported[1]["eventTime"].endswith("Z")
