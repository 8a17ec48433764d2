"""Triggering builds: the queue, crumbs, idempotency across a restart (by UNIFIER_FIRING_ID
or by user, parameters and time), cancel, and errors, against the fake controller."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from jenkins_testing import build_adapter

from unifier.errors import AdapterError, NotFound, ToolUnavailable, TriggerRefused
from unifier.model import CauseKind, RunState


def posts(fake) -> list[str]:
    return [path.split("?")[0] for method, path in fake.requests if method == "POST"]


async def test_trigger_follows_the_queue_item_to_the_build_number(fake_jenkins, jenkins_adapter):
    run = await jenkins_adapter.trigger("team/plain-hello", {"greeting": "hi", "dry_run": True}, "f-1")
    assert run.run_id == "1" and run.job == "jenkins://ci/team/plain-hello"
    assert run.parameters == {"greeting": "hi", "dry_run": True}
    assert posts(fake_jenkins) == ["/job/team/job/plain-hello/buildWithParameters"]
    assert fake_jenkins.count("GET", "/queue/item/1/api/json") >= 1
    assert run.details["queue_id"] == 1


async def test_a_job_without_parameters_is_started_with_build(fake_jenkins, jenkins_adapter):
    await jenkins_adapter.trigger("team/boom", {}, "f-1")
    assert posts(fake_jenkins) == ["/job/team/job/boom/build"]


async def test_parameters_the_job_does_not_define_are_refused_before_posting(fake_jenkins, jenkins_adapter):
    with pytest.raises(TriggerRefused, match="does not define parameter.*colour.*it defines dry_run, greeting"):
        await jenkins_adapter.trigger("team/plain-hello", {"colour": "red"}, "f-1")
    with pytest.raises(TriggerRefused, match="set by unifier"):
        await jenkins_adapter.trigger("team/services/hello", {"UNIFIER_FIRING_ID": "x"}, "f-2")
    assert posts(fake_jenkins) == []


async def test_firing_id_parameter_makes_a_retry_after_restart_adopt_the_build(fake_jenkins, make_adapter):
    first = await make_adapter().trigger("team/services/hello", {"greeting": "hi"}, "firing-42")
    assert first.parameters["UNIFIER_FIRING_ID"] == "firing-42"
    assert first.cause.kind == CauseKind.TRIGGER and first.cause.firing_id == "firing-42"
    # a new process (nothing in memory) retries the same firing, even without its time
    again = await make_adapter().trigger("team/services/hello", {"greeting": "hi"}, "firing-42")
    assert again.run_id == first.run_id
    assert len(posts(fake_jenkins)) == 1
    # another firing with the same parameters is another build
    other = await make_adapter().trigger("team/services/hello", {"greeting": "hi"}, "firing-43")
    assert other.run_id != first.run_id and len(posts(fake_jenkins)) == 2


async def test_without_firing_parameter_a_retry_adopts_by_user_parameters_and_time(fake_jenkins, make_adapter):
    fired_at = datetime.now(UTC)
    first = await make_adapter().trigger("team/plain-hello", {"greeting": "hi"}, "f-7", fired_at=fired_at)
    again = await make_adapter().trigger("team/plain-hello", {"greeting": "hi"}, "f-7", fired_at=fired_at)
    assert again.run_id == first.run_id and len(posts(fake_jenkins)) == 1
    # a later firing with the same parameters is not the earlier build
    later = datetime.now(UTC) + timedelta(seconds=10)
    fresh = await make_adapter().trigger("team/plain-hello", {"greeting": "hi"}, "f-8", fired_at=later)
    assert fresh.run_id != first.run_id and len(posts(fake_jenkins)) == 2


async def test_builds_of_other_users_or_other_parameters_are_not_adopted(fake_jenkins, make_adapter):
    fired_at = datetime.now(UTC) - timedelta(seconds=30)
    fake_jenkins.add_build("team/plain-hello", ago=10, params={"greeting": "hi", "dry_run": False}, user="alice")
    fake_jenkins.add_build("team/plain-hello", ago=5, params={"greeting": "bye", "dry_run": False}, user="unifier")
    run = await make_adapter().trigger("team/plain-hello", {"greeting": "hi"}, "f-9", fired_at=fired_at)
    assert run.run_id == "3" and len(posts(fake_jenkins)) == 1


async def test_two_firings_in_one_process_never_share_a_build(fake_jenkins, make_adapter):
    adapter = make_adapter()
    fired_at = datetime.now(UTC)
    a = await adapter.trigger("team/plain-hello", {"greeting": "hi"}, "f-a", fired_at=fired_at)
    b = await adapter.trigger("team/plain-hello", {"greeting": "hi"}, "f-b", fired_at=fired_at)
    assert a.run_id != b.run_id and len(posts(fake_jenkins)) == 2


async def test_a_retry_during_the_quiet_period_finds_the_queued_item(fake_jenkins, make_adapter):
    fake_jenkins.job("team/plain-hello").quiet_period = 1.0
    fired_at = datetime.now(UTC)
    first = await make_adapter(queue_wait=0).trigger("team/plain-hello", {"greeting": "hi"}, "f-q", fired_at=fired_at)
    assert (first.run_id, first.state, first.native_state) == ("queue-1", RunState.QUEUED, "QUEUED")
    again = await make_adapter(queue_wait=0).trigger("team/plain-hello", {"greeting": "hi"}, "f-q", fired_at=fired_at)
    assert again.run_id == "queue-1" and len(posts(fake_jenkins)) == 1
    # once it leaves the queue, the queue id resolves to the build
    await asyncio.sleep(1.1)
    started = await make_adapter().status("team/plain-hello", "queue-1")
    assert started.run_id == "1" and started.details["queue_id"] == 1


async def test_a_queue_item_jenkins_forgot_is_found_by_its_build(fake_jenkins, make_adapter):
    fake_jenkins.left_item_ttl = 0.0
    fake_jenkins.job("team/boom").quiet_period = 0.2
    queued = await make_adapter(queue_wait=0).trigger("team/boom", {}, "f-gone")
    await asyncio.sleep(0.5)
    assert fake_jenkins.count("GET", "/queue/item/") == 1
    run = await make_adapter().status("team/boom", queued.run_id)
    assert run.run_id == "1"
    with pytest.raises(NotFound):
        await make_adapter().status("team/boom", "queue-999")


async def test_cancel_a_queued_item(fake_jenkins, make_adapter):
    fake_jenkins.job("sleepy").quiet_period = 30
    adapter = make_adapter(queue_wait=0)
    run = await adapter.trigger("sleepy", {}, "f-c")
    await adapter.cancel("sleepy", run.run_id)
    assert "/queue/cancelItem" in posts(fake_jenkins)
    after = await adapter.status("sleepy", run.run_id)
    assert (after.state, after.native_state) == (RunState.CANCELLED, "CANCELLED")
    assert fake_jenkins.job("sleepy").builds == {}


async def test_cancel_a_running_build_aborts_it(fake_jenkins, jenkins_adapter):
    run = await jenkins_adapter.trigger("sleepy", {}, "f-stop")
    assert run.state == RunState.RUNNING
    await jenkins_adapter.cancel("sleepy", run.run_id)
    final = await jenkins_adapter.status("sleepy", run.run_id)
    assert (final.state, final.native_state) == (RunState.CANCELLED, "ABORTED")
    assert "Finished: ABORTED" in await jenkins_adapter.logs("sleepy", run.run_id)


async def test_a_stale_crumb_is_fetched_again(fake_jenkins, jenkins_adapter):
    await jenkins_adapter.trigger("team/boom", {}, "f-1")
    fake_jenkins.rotate_crumb()  # the controller restarted
    await jenkins_adapter.trigger("team/boom", {}, "f-2")
    assert fake_jenkins.count("GET", "/crumbIssuer/api/json") == 2
    assert len(fake_jenkins.job("team/boom").builds) == 2


async def test_no_crumb_is_fetched_for_reads(fake_jenkins, jenkins_adapter):
    await jenkins_adapter.changes(None)
    await jenkins_adapter.discover()
    fake_jenkins.add_build("nightly", ago=5)
    await jenkins_adapter.status("nightly", "1")
    await jenkins_adapter.logs("nightly", "1")
    assert fake_jenkins.count("GET", "/crumbIssuer") == 0


async def test_a_controller_without_csrf_protection(fake_jenkins, jenkins_adapter):
    fake_jenkins.crumbs = False
    run = await jenkins_adapter.trigger("team/boom", {}, "f-1")
    assert run.run_id == "1"


async def test_a_bad_token_names_the_problem(fake_jenkins, make_adapter, monkeypatch):
    monkeypatch.setenv("UNIFIER_TEST_JENKINS_TOKEN", "wrong")
    adapter = make_adapter()
    with pytest.raises(AdapterError, match="401.*check username, token"):
        await adapter.changes(None)
    health = await adapter.health()
    assert not health.ok and "401" in health.message


async def test_a_controller_that_is_down_is_tool_unavailable(fake_jenkins, make_adapter):
    adapter = make_adapter(timeout=2)
    fake_jenkins.stop()
    with pytest.raises(ToolUnavailable, match="cannot reach Jenkins"):
        await adapter.changes(None)
    with pytest.raises(ToolUnavailable):
        await adapter.trigger("team/boom", {}, "f-1")
    assert not (await adapter.health()).ok


async def test_health_reports_the_version(fake_jenkins, jenkins_adapter):
    health = await jenkins_adapter.health()
    assert health.ok and health.details["version"] == fake_jenkins.version


@pytest.fixture
def not_jenkins():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"<html><body>Welcome to nginx!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_something_that_is_not_jenkins_is_an_adapter_error(not_jenkins):
    adapter = build_adapter({"url": not_jenkins})
    with pytest.raises(AdapterError, match="did not answer JSON.*Welcome to nginx"):
        await adapter.changes(None)
    health = await adapter.health()
    assert not health.ok and "X-Jenkins" in health.message


async def test_unknown_job_and_run_are_not_found(fake_jenkins, jenkins_adapter):
    with pytest.raises(NotFound):
        await jenkins_adapter.trigger("team/nope", {}, "f-1")
    with pytest.raises(NotFound, match="has no build 7"):
        await jenkins_adapter.status("team/boom", "7")
    with pytest.raises(NotFound, match="not a Jenkins run id"):
        await jenkins_adapter.status("team/boom", "abc")
