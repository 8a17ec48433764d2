"""Discovery and incremental sync against the fake controller: one request per cycle
whatever the number of jobs, counted at the server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from fake_jenkins import MULTIBRANCH, PIPELINE, FakeJenkins, Param
from jenkins_testing import build_adapter

from unifier.adapters.jenkins.schedule import resolve
from unifier.model import CauseKind, RunState


def nested_world(fake: FakeJenkins, jobs: int) -> list[str]:
    """``jobs`` jobs spread over folders up to four levels deep, plus multibranch projects."""
    names = []
    for i in range(jobs):
        depth = i % 5
        folders = "/".join(f"dept-{i % 7}-lvl{d}" for d in range(depth))
        name = f"{folders}/job-{i}" if folders else f"job-{i}"
        if i % 50 == 0:  # a multibranch project's branch
            name = f"{folders + '/' if folders else ''}mbp-{i}/feature%2Fthing-{i}"
            fake.folder(name.rsplit("/", 1)[0], MULTIBRANCH)
            fake.add_job(name, cls=PIPELINE)
        else:
            fake.add_job(name)
        fake.add_build(name, ago=120, duration=5, outcome="SUCCESS" if i % 3 else "FAILURE")
        names.append(name)
    return names


@pytest.fixture
def big_fake(monkeypatch):
    fake = FakeJenkins()
    names = nested_world(fake, 500)
    fake.start()
    monkeypatch.setenv("UNIFIER_TEST_JENKINS_TOKEN", fake.users["unifier"])
    yield fake, names
    fake.stop()


@pytest.fixture
def big_adapter(big_fake):
    fake, _ = big_fake
    adapter = build_adapter({"url": fake.base, "username": "unifier",
                             "token": "${env:UNIFIER_TEST_JENKINS_TOKEN}"})
    yield adapter
    adapter.client.close()


async def test_sync_of_500_jobs_in_nested_folders_is_one_request(big_fake, big_adapter):
    fake, names = big_fake
    before = len(fake.requests)
    first = await big_adapter.changes(None)
    assert len(fake.requests) - before == 1, fake.requests[before:]
    assert first.requests == 1
    assert {r.job for r in first.runs} == {big_adapter.job_uri(n) for n in names}
    method, path = fake.requests[-1]
    assert method == "GET" and path.startswith("/api/json?tree=jobs%5B")

    # steady state: nothing changed, still one request, nothing listed
    before = len(fake.requests)
    steady = await big_adapter.changes(first.watermark)
    assert len(fake.requests) - before == 1
    assert steady.runs == []

    # three jobs ran: one request, exactly those three runs
    for name in names[10:13]:
        fake.add_build(name, ago=1, duration=0.1)
    before = len(fake.requests)
    changed = await big_adapter.changes(steady.watermark)
    assert len(fake.requests) - before == 1
    assert sorted((r.job, r.run_id) for r in changed.runs) == sorted(
        (big_adapter.job_uri(n), "2") for n in names[10:13])


async def test_discover_finds_every_job_through_folders_and_multibranch(big_fake, big_adapter):
    fake, names = big_fake
    jobs = await big_adapter.discover()
    assert sorted(j.native_id for j in jobs) == sorted(names)
    branch = next(j for j in jobs if j.native_id.endswith("feature%2Fthing-0"))
    assert branch.native_id == "mbp-0/feature%2Fthing-0"
    assert branch.url == fake.base + "job/mbp-0/job/feature%252Fthing-0/"
    # config.xml was read once per job; a second discovery reads only the tree
    before = len(fake.requests)
    await big_adapter.discover()
    assert fake.requests[before:] == [fake.requests[before]]


async def test_runs_carry_state_times_parameters_and_cause(fake_jenkins, jenkins_adapter):
    fake_jenkins.add_build("team/plain-hello", ago=30, duration=2, params={"greeting": "hi", "dry_run": True},
                           user="alice")
    fake_jenkins.add_build("nightly", ago=600, duration=1, outcome="ABORTED", timer=True)
    fake_jenkins.add_build("team/wobbly", ago=20, duration=1, outcome="UNSTABLE")
    fake_jenkins.add_build("team/boom", ago=10, duration=1, outcome="NOT_BUILT")
    runs = {r.job.split("/", 3)[3]: r for r in (await jenkins_adapter.changes(None)).runs}
    hello = runs["team/plain-hello"]
    assert (hello.run_id, hello.state, hello.native_state) == ("1", RunState.SUCCEEDED, "SUCCESS")
    assert hello.parameters == {"greeting": "hi", "dry_run": True}
    assert hello.cause.kind == CauseKind.MANUAL and hello.cause.actor == "alice"
    assert (hello.ended_at - hello.started_at).total_seconds() == pytest.approx(2, abs=0.01)
    assert hello.log_url == fake_jenkins.base + "job/team/job/plain-hello/1/console"
    assert runs["nightly"].state == RunState.CANCELLED and runs["nightly"].cause.kind == CauseKind.SCHEDULE
    assert runs["team/wobbly"].state == RunState.FAILED  # unstable_is defaults to failed
    assert runs["team/boom"].state == RunState.SKIPPED


async def test_unstable_can_count_as_succeeded(fake_jenkins, make_adapter):
    fake_jenkins.add_build("team/wobbly", ago=20, duration=1, outcome="UNSTABLE")
    adapter = make_adapter(unstable_is="succeeded")
    run = await adapter.status("team/wobbly", "1")
    assert (run.state, run.native_state) == (RunState.SUCCEEDED, "UNSTABLE")


async def test_a_running_build_is_listed_when_new_and_again_when_it_ends(fake_jenkins, jenkins_adapter):
    start = await jenkins_adapter.changes(None)
    fake_jenkins.add_build("team/boom", ago=0.1, duration=0.6, outcome="FAILURE")
    running = await jenkins_adapter.changes(start.watermark)
    assert [(r.run_id, r.state, r.native_state) for r in running.runs] == [("1", RunState.RUNNING, "BUILDING")]
    still = await jenkins_adapter.changes(running.watermark)
    assert still.runs == []  # unchanged: not listed again
    await asyncio.sleep(0.7)
    ended = await jenkins_adapter.changes(still.watermark)
    assert [(r.run_id, r.state) for r in ended.runs] == [("1", RunState.FAILED)]
    assert (await jenkins_adapter.changes(ended.watermark)).runs == []


async def test_more_builds_than_the_window_cost_one_more_request(fake_jenkins, make_adapter):
    adapter = make_adapter(builds_per_job=3)
    start = await adapter.changes(None)
    for _ in range(8):
        fake_jenkins.add_build("team/boom", ago=5, duration=1)
    before = len(fake_jenkins.requests)
    changed = await adapter.changes(start.watermark)
    assert len(fake_jenkins.requests) - before == 2
    assert "allBuilds" in fake_jenkins.requests[-1][1]
    assert sorted(int(r.run_id) for r in changed.runs) == list(range(1, 9))


async def test_a_build_that_left_the_window_while_running_is_read_alone(fake_jenkins, make_adapter):
    adapter = make_adapter(builds_per_job=2)
    start = await adapter.changes(None)
    fake_jenkins.add_build("team/boom", ago=0.1, duration=0.5)  # 1: long
    seen = await adapter.changes(start.watermark)
    assert [r.state for r in seen.runs] == [RunState.RUNNING]
    for _ in range(3):
        fake_jenkins.add_build("team/boom", ago=1, duration=0.1)  # 2..4 finished
    await asyncio.sleep(0.5)
    before = len(fake_jenkins.requests)
    later = await adapter.changes(seen.watermark)
    assert {r.run_id: r.state for r in later.runs} == {
        "1": RunState.FAILED, "2": RunState.FAILED, "3": RunState.FAILED, "4": RunState.FAILED}
    assert len(fake_jenkins.requests) - before == 3  # the tree, the rest of the window, build 1


async def test_folders_deeper_than_the_tree_are_followed(fake_jenkins, make_adapter):
    fake_jenkins.add_job("a/b/c/d/deep")
    fake_jenkins.add_build("a/b/c/d/deep", ago=5)
    adapter = make_adapter(folder_depth=2)
    before = len(fake_jenkins.requests)
    first = await adapter.changes(None)
    assert adapter.job_uri("a/b/c/d/deep") in {r.job for r in first.runs}
    followed = [p.split("?")[0] for _, p in fake_jenkins.requests[before:]]
    assert followed == ["/api/json", "/job/team/job/services/api/json", "/job/a/job/b/api/json",
                        "/job/a/job/b/job/c/job/d/api/json"]
    assert {j.native_id for j in await adapter.discover()} >= {"a/b/c/d/deep", "team/services/hello"}


async def test_watermark_is_compact_and_a_bad_one_relists(fake_jenkins, jenkins_adapter):
    fake_jenkins.add_build("team/boom", ago=5)
    first = await jenkins_adapter.changes(None)
    mark = json.loads(first.watermark)
    assert mark == {"v": 1, "j": {"nightly": [0], "sleepy": [0], "team/boom": [1], "team/plain-hello": [0],
                                  "team/services/hello": [0], "team/wobbly": [0]}}
    again = await jenkins_adapter.changes("not json at all")
    assert [r.run_id for r in again.runs] == ["1"]


async def test_a_recreated_job_restarting_at_1_is_listed_again(fake_jenkins, jenkins_adapter):
    for _ in range(3):
        fake_jenkins.add_build("team/boom", ago=5)
    first = await jenkins_adapter.changes(None)
    job = fake_jenkins.job("team/boom")
    job.builds.clear()
    job.next_number = 1
    fake_jenkins.add_build("team/boom", ago=1)
    again = await jenkins_adapter.changes(first.watermark)
    assert [r.run_id for r in again.runs] == ["1"]


async def test_discovery_reads_parameters_timer_spec_and_next_run(fake_jenkins, jenkins_adapter):
    fake_jenkins.job("team/boom").disabled = True
    jobs = {j.native_id: j for j in await jenkins_adapter.discover()}
    assert set(jobs) == {"team/services/hello", "team/plain-hello", "team/boom", "team/wobbly", "sleepy", "nightly"}
    nightly = jobs["nightly"]
    spec = resolve("TZ=Europe/Paris\nH 2 * * *", "nightly")
    assert nightly.extra["timer_spec"] == "TZ=Europe/Paris\nH 2 * * *"
    assert nightly.schedule == spec.lines[0] and nightly.timezone == "Europe/Paris"
    assert nightly.next_run_at == spec.next_runs(datetime.now(UTC))[0]
    hello = jobs["team/plain-hello"]
    assert hello.extra["parameters"] == [
        {"name": "greeting", "type": "StringParameterDefinition", "default": "hello"},
        {"name": "dry_run", "type": "BooleanParameterDefinition", "default": False}]
    assert hello.extra["firing_parameter"] is False and jobs["team/services/hello"].extra["firing_parameter"]
    assert hello.schedule is None and hello.next_run_at is None
    assert jobs["team/boom"].paused and not hello.paused


async def test_config_xml_is_read_again_only_when_the_job_changes(fake_jenkins, make_adapter):
    adapter = make_adapter()
    await adapter.discover()
    assert fake_jenkins.count("GET", "config.xml") == 6
    await adapter.discover()
    assert fake_jenkins.count("GET", "config.xml") == 6
    # an edit the JSON API shows (the description) re-reads that job's config.xml only
    job = fake_jenkins.job("team/plain-hello")
    job.description, job.timer_spec = "now nightly", "H H(1-3) * * *"
    jobs = {j.native_id: j for j in await adapter.discover()}
    assert fake_jenkins.count("GET", "config.xml") == 7
    assert jobs["team/plain-hello"].schedule == resolve("H H(1-3) * * *", "team/plain-hello").lines[0]
    # a Pipeline job's build may rewrite its triggers (a Jenkinsfile's properties step)
    fake_jenkins.add_build("nightly", ago=1)
    await adapter.discover()
    assert fake_jenkins.count("GET", "config.xml") == 8


async def test_a_timer_edit_the_api_cannot_show_is_seen_after_config_max_age(fake_jenkins, make_adapter):
    adapter = make_adapter(config_max_age=0.2)
    await adapter.discover()
    fake_jenkins.job("sleepy").timer_spec = "@hourly"
    await asyncio.sleep(0.25)
    jobs = {j.native_id: j for j in await adapter.discover()}
    assert jobs["sleepy"].extra["timer_spec"] == "@hourly"


async def test_bad_timer_spec_is_reported_on_the_job_not_raised(fake_jenkins, jenkins_adapter):
    fake_jenkins.job("sleepy").timer_spec = "H(0-3)/15 * * * *"
    jobs = {j.native_id: j for j in await jenkins_adapter.discover()}
    assert "must be within 1 and 4" in jobs["sleepy"].extra["timer_spec_error"]
    assert jobs["sleepy"].schedule is None


async def test_a_job_whose_config_is_forbidden_is_discovered_without_schedule(fake_jenkins, jenkins_adapter):
    fake_jenkins.config_forbidden.add("nightly")
    jobs = {j.native_id: j for j in await jenkins_adapter.discover()}
    assert jobs["nightly"].extra["config_error"] == "no permission to read config.xml"
    assert jobs["nightly"].schedule is None and len(jobs) == 6


async def test_a_deleted_job_leaves_the_watermark(fake_jenkins, jenkins_adapter):
    first = await jenkins_adapter.changes(None)
    del fake_jenkins.job("team/boom").parent.items["boom"]
    second = await jenkins_adapter.changes(first.watermark)
    assert "team/boom" not in json.loads(second.watermark)["j"]


def test_params_fixture_types_match_jenkins_classes():
    # the fake's parameter classes are Jenkins' own class names
    assert Param("x", "boolean").coerce("true") is True
