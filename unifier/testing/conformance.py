"""The adapter conformance suite: the executable definition of "an adapter works".

Every adapter's test module subclasses :class:`AdapterConformance` and supplies the
fixtures below, pointed at the most real backend that runs on the test machine::

    class TestCronConformance(AdapterConformance):
        @pytest.fixture
        async def adapter(self, tmp_path): ...          # an Adapter, ready to use
        @pytest.fixture
        def succeeding_job(self): return "hello"       # native id of a job that succeeds
        @pytest.fixture
        def failing_job(self): return "boom"           # native id of a job that fails
        @pytest.fixture
        def slow_job(self): return "sleepy"            # runs >= 10 s (for cancel)

Capabilities decide what is checked: an adapter that declares ``cancel=False`` must
raise :class:`~unifier.errors.Unsupported` when asked to cancel (the same for
``trigger`` and ``logs``), one that declares ``schedules=False`` must not put schedules
on its jobs. Tests that need a triggered run skip, saying why, on an adapter that cannot
trigger. Third-party adapters use the same suite (it ships in the package).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from unifier import schedule
from unifier.adapter import Adapter
from unifier.errors import NotFound, Unsupported
from unifier.model import NAME_RE, URI_RE, Job, Run, RunState, utcnow


def new_firing_id() -> str:
    return f"conformance-{uuid.uuid4().hex}"


async def wait_terminal(adapter: Adapter, native_id: str, run_id: str, within: float) -> Run:
    """Poll ``status`` until the run is terminal; fail the test after ``within`` s."""
    deadline = time.monotonic() + within
    run = await adapter.status(native_id, run_id)
    while not run.state.terminal:
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} of {native_id} still {run.state.value} after {within}s")
        await asyncio.sleep(0.2)
        run = await adapter.status(native_id, run_id)
    return run


class AdapterConformance:
    """Mixin of tests; a subclass supplies the fixtures and inherits every test."""

    # seconds a triggered run may take to finish on this backend
    run_timeout: float = 60.0
    # parameters sent with triggers; override where a job only accepts certain names
    trigger_params: dict[str, Any] = {"greeting": "hello from unifier"}
    # seconds by which the adapter's watermark deliberately overlaps (Airflow: query time)
    watermark_overlap: float = 0.0

    # -- fixtures a subclass must supply ---------------------------------------------

    @pytest.fixture
    def adapter(self) -> Adapter:
        raise NotImplementedError("the adapter's test module must supply `adapter`")

    @pytest.fixture
    def succeeding_job(self) -> str:
        raise NotImplementedError("supply `succeeding_job`: native id of a job that succeeds")

    @pytest.fixture
    def failing_job(self) -> str:
        raise NotImplementedError("supply `failing_job`: native id of a job that fails")

    @pytest.fixture
    def slow_job(self) -> str:
        raise NotImplementedError("supply `slow_job`: native id of a job that runs >= 10 s")

    # -- discovery ----------------------------------------------------------------------

    async def test_discover_names_jobs_by_uri(self, adapter: Adapter, succeeding_job: str) -> None:
        jobs = await adapter.discover()
        assert all(isinstance(job, Job) for job in jobs)
        uris = [job.uri for job in jobs]
        assert len(uris) == len(set(uris)), "job URIs must be unique"
        assert NAME_RE.match(adapter.instance)
        for job in jobs:
            match = URI_RE.match(job.uri)
            assert match, f"bad URI {job.uri}"
            assert (match["kind"], match["instance"], match["native_id"]) == (
                adapter.kind, adapter.instance, job.native_id)
        assert adapter.job_uri(succeeding_job) in uris

    def test_state_map_is_total_and_typed(self, adapter: Adapter) -> None:
        assert adapter.state_map, "an adapter documents its native state mapping"
        assert all(isinstance(state, RunState) for state in adapter.state_map.values())
        mapped = set(adapter.state_map.values())
        # a tool that can run jobs can report them succeeding and failing
        assert {RunState.SUCCEEDED, RunState.FAILED} <= mapped

    async def test_health(self, adapter: Adapter) -> None:
        health = await adapter.health()
        assert health.ok, health.message

    # -- trigger and status -------------------------------------------------------------

    async def test_trigger_with_parameters_succeeds(self, adapter: Adapter, succeeding_job: str) -> None:
        if not adapter.capabilities.trigger:
            with pytest.raises(Unsupported):
                await adapter.trigger(succeeding_job, dict(self.trigger_params), new_firing_id())
            return
        run = await adapter.trigger(succeeding_job, dict(self.trigger_params), new_firing_id())
        assert run.job == adapter.job_uri(succeeding_job)
        assert run.run_id
        final = await wait_terminal(adapter, succeeding_job, run.run_id, self.run_timeout)
        assert final.state == RunState.SUCCEEDED, final
        assert final.native_state in adapter.state_map, "native state missing from the state map"
        if adapter.capabilities.parameters:
            for key, value in self.trigger_params.items():
                assert final.parameters.get(key) == value, final.parameters

    async def test_failing_run_is_failed(self, adapter: Adapter, failing_job: str) -> None:
        if not adapter.capabilities.trigger:
            pytest.skip(f"{adapter.kind} cannot trigger")
        run = await adapter.trigger(failing_job, {}, new_firing_id())
        final = await wait_terminal(adapter, failing_job, run.run_id, self.run_timeout)
        assert final.state == RunState.FAILED, final
        assert final.native_state in adapter.state_map

    async def test_trigger_is_idempotent(self, adapter: Adapter, succeeding_job: str) -> None:
        if not adapter.capabilities.trigger:
            pytest.skip(f"{adapter.kind} cannot trigger")
        before = await adapter.changes(None)
        firing = new_firing_id()
        first = await adapter.trigger(succeeding_job, dict(self.trigger_params), firing)
        again = await adapter.trigger(succeeding_job, dict(self.trigger_params), firing)
        assert again.run_id == first.run_id, "the same firing must not start a second run"
        await wait_terminal(adapter, succeeding_job, first.run_id, self.run_timeout)
        changed = await adapter.changes(before.watermark)
        started = {r.run_id for r in changed.runs if r.job == first.job} - {r.run_id for r in before.runs}
        assert started == {first.run_id}, f"expected exactly one new run, saw {started}"

    async def test_status_of_unknown_run_is_not_found(self, adapter: Adapter, succeeding_job: str) -> None:
        with pytest.raises(NotFound):
            await adapter.status(succeeding_job, "no-such-run-" + uuid.uuid4().hex[:8])

    # -- incremental sync ---------------------------------------------------------------

    async def test_changes_are_incremental(self, adapter: Adapter, succeeding_job: str) -> None:
        if not adapter.capabilities.trigger:
            pytest.skip(f"{adapter.kind} cannot trigger")
        first = await adapter.changes(None)
        run = await adapter.trigger(succeeding_job, dict(self.trigger_params), new_firing_id())
        await wait_terminal(adapter, succeeding_job, run.run_id, self.run_timeout)
        second = await adapter.changes(first.watermark)
        seen = {r.run_id: r for r in second.runs if r.job == run.job}
        assert run.run_id in seen, "a run that changed since the watermark must be listed"
        assert seen[run.run_id].state == RunState.SUCCEEDED
        if self.watermark_overlap:
            await asyncio.sleep(self.watermark_overlap + 0.5)
            second = await adapter.changes(second.watermark)
        third = await adapter.changes(second.watermark)
        assert run.run_id not in {r.run_id for r in third.runs}, (
            "a run that did not change since the watermark must not be listed again")

    # -- optional capabilities ----------------------------------------------------------

    async def test_cancel(self, adapter: Adapter, slow_job: str, succeeding_job: str) -> None:
        if not adapter.capabilities.cancel:
            with pytest.raises(Unsupported):
                await adapter.cancel(succeeding_job, "any-run")
            return
        run = await adapter.trigger(slow_job, {}, new_firing_id())
        await adapter.cancel(slow_job, run.run_id)
        final = await wait_terminal(adapter, slow_job, run.run_id, self.run_timeout)
        assert final.state in (RunState.CANCELLED, RunState.FAILED), final

    async def test_logs(self, adapter: Adapter, succeeding_job: str) -> None:
        if not adapter.capabilities.logs:
            with pytest.raises(Unsupported):
                await adapter.logs(succeeding_job, "any-run")
            return
        run = await adapter.trigger(succeeding_job, dict(self.trigger_params), new_firing_id())
        await wait_terminal(adapter, succeeding_job, run.run_id, self.run_timeout)
        text = await adapter.logs(succeeding_job, run.run_id)
        assert isinstance(text, str) and text.strip(), "a finished run has a log"

    async def test_schedules(self, adapter: Adapter) -> None:
        """A job's ``schedule`` is what the forecast (``unifier status``) computes next
        runs from: a cron expression unifier reads, in the job's time zone, with
        ``next_run_at`` (when given, and the job is not paused) still ahead. No schedule
        without the capability."""
        jobs = await adapter.discover()
        scheduled = [(job, job.schedule) for job in jobs if job.schedule]
        if not adapter.capabilities.schedules:
            assert scheduled == [], f"{adapter.kind} declares schedules=False but schedules {scheduled}"
            return
        assert scheduled, (f"{adapter.kind} declares schedules: the test backend needs a job with a "
                           "schedule for this test")
        now = utcnow()
        for job, expression in scheduled:
            upcoming = schedule.next_run(expression, job.timezone, after=now)  # must parse
            assert upcoming is None or upcoming > now, job  # None: @reboot
            if job.next_run_at is not None and not job.paused:  # paused: the tool's last plan
                assert job.next_run_at > now - timedelta(minutes=1), (
                    f"{job.uri}: next_run_at {job.next_run_at} is in the past")

    async def test_push(self, adapter: Adapter, succeeding_job: str) -> None:
        """A tool that pushes (``push``) wakes a sync the moment a run changes: the very
        next ``changes()`` after the change must list it, in its new state, with no
        polling delay to wait out."""
        if not adapter.capabilities.push:
            pytest.skip(f"{adapter.kind} does not push: the loop polls it")
        if not adapter.capabilities.trigger:
            pytest.skip(f"{adapter.kind} cannot trigger: no run to push about")
        before = await adapter.changes(None)
        run = await adapter.trigger(succeeding_job, dict(self.trigger_params), new_firing_id())
        final = await wait_terminal(adapter, succeeding_job, run.run_id, self.run_timeout)
        pushed = await adapter.changes(before.watermark)  # what the woken sync reads
        seen = {r.run_id: r for r in pushed.runs if r.job == run.job}
        assert run.run_id in seen, "the sync a push wakes must see the run that changed"
        assert seen[run.run_id].state == final.state
