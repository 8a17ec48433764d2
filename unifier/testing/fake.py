"""A fake adapter for tests: jobs and runs in memory, runs that advance with the clock.

A run triggered at ``t`` is queued until ``t + queue_seconds``, running until
``t + queue_seconds + duration``, then ends in the job's ``outcome``. Adapter objects
built for the same instance name share one world, as adapters for one real tool share
the tool. Register it with :func:`register_fake_adapter` (it is deliberately not an
entry point: users never see it in ``unifier adapters``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from unifier.adapter import Adapter, Capabilities, ChangeSet, run_id_for_firing
from unifier.errors import NotFound
from unifier.hookspecs import hookimpl
from unifier.model import Cause, CauseKind, Job, Run, RunState, map_state
from unifier.plugins import AdapterRegistry, AdapterSpec, PluginManager, installed_plugins
from unifier.schedule import CronExpression


class FakeJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="native id of the job")
    outcome: Literal["succeeded", "failed"] = "succeeded"
    duration: float = Field(default=0.2, description="seconds a run spends running")
    schedule: CronExpression | None = Field(default=None, description="cron expression")


class FakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[FakeJob] = Field(default_factory=list, description="the jobs this fake tool has")
    queue_seconds: float = Field(default=0.05, description="seconds a run stays queued")


@dataclass
class _FakeRun:
    job: str
    run_id: str
    params: dict[str, Any]
    firing_id: str
    created: float  # time.time()
    duration: float
    outcome: str
    queue_seconds: float
    cancelled_at: float | None = None

    def native_state_at(self, now: float) -> str:
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return "killed"
        if now < self.created + self.queue_seconds:
            return "waiting"
        if now < self.created + self.queue_seconds + self.duration:
            return "busy"
        return "ok" if self.outcome == "succeeded" else "error"

    def transitions(self) -> list[float]:
        times = [self.created, self.created + self.queue_seconds,
                 self.created + self.queue_seconds + self.duration]
        if self.cancelled_at is not None:
            times = [t for t in times if t < self.cancelled_at] + [self.cancelled_at]
        return times


@dataclass
class FakeWorld:
    runs: dict[str, _FakeRun] = field(default_factory=dict)
    requests: int = 0


FAKE_ADAPTER = AdapterSpec(kind="fake", settings_path=FakeSettings,
                           implementation="unifier.testing.fake:FakeAdapter",
                           description="in-memory tool for tests")


class FakeAdapter(Adapter):
    kind = FAKE_ADAPTER.kind
    settings_model = FAKE_ADAPTER.settings
    capabilities = Capabilities(cancel=True, logs=True, schedules=True)
    state_map: ClassVar[dict[str, RunState]] = {
        "waiting": RunState.QUEUED,
        "busy": RunState.RUNNING,
        "ok": RunState.SUCCEEDED,
        "error": RunState.FAILED,
        "killed": RunState.CANCELLED,
    }
    worlds: ClassVar[dict[str, FakeWorld]] = {}

    settings: FakeSettings

    @property
    def world(self) -> FakeWorld:
        return self.worlds.setdefault(self.instance, FakeWorld())

    def _job_spec(self, native_id: str) -> FakeJob:
        for job in self.settings.jobs:
            if job.id == native_id:
                return job
        raise NotFound(f"no job {native_id!r} in fake instance {self.instance}")

    def _run(self, fake: _FakeRun, now: float | None = None) -> Run:
        from datetime import datetime

        now = time.time() if now is None else now
        native = fake.native_state_at(now)
        state = map_state(self.state_map, native)
        started = fake.created + fake.queue_seconds
        ended = max(t for t in fake.transitions() if t <= now) if state.terminal else None
        ts = lambda t: datetime.fromtimestamp(t, UTC)  # noqa: E731
        return Run(
            job=self.job_uri(fake.job), run_id=fake.run_id, state=state, native_state=native,
            queued_at=ts(fake.created), started_at=ts(started) if now >= started else None,
            ended_at=ts(ended) if ended else None, parameters=dict(fake.params),
            cause=Cause(kind=CauseKind.TRIGGER, firing_id=fake.firing_id),
        )

    async def discover(self) -> list[Job]:
        self.world.requests += 1
        return [self.new_job(j.id, schedule=j.schedule, timezone="UTC" if j.schedule else None)
                for j in self.settings.jobs]

    async def changes(self, watermark: str | None) -> ChangeSet:
        self.world.requests += 1
        now = time.time()
        since = float(watermark) if watermark else 0.0
        runs = [self._run(r, now) for r in self.world.runs.values()
                if any(since < t <= now for t in r.transitions())]
        return ChangeSet(runs=runs, watermark=repr(now), requests=1)

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *,
                      fired_at: datetime | None = None) -> Run:
        self.world.requests += 1
        spec = self._job_spec(native_id)
        run_id = run_id_for_firing(firing_id, prefix="fake")
        fake = self.world.runs.get(run_id)
        if fake is None:
            fake = _FakeRun(job=native_id, run_id=run_id, params=dict(params), firing_id=firing_id,
                            created=time.time(), duration=spec.duration, outcome=spec.outcome,
                            queue_seconds=self.settings.queue_seconds)
            self.world.runs[run_id] = fake
        return self._run(fake)

    async def status(self, native_id: str, run_id: str) -> Run:
        self.world.requests += 1
        fake = self.world.runs.get(run_id)
        if fake is None or fake.job != native_id:
            raise NotFound(f"no run {run_id!r} of {native_id!r}")
        return self._run(fake)

    async def cancel(self, native_id: str, run_id: str) -> None:
        fake = self.world.runs.get(run_id)
        if fake is None:
            raise NotFound(f"no run {run_id!r} of {native_id!r}")
        if not self._run(fake).state.terminal:
            fake.cancelled_at = time.time()

    async def logs(self, native_id: str, run_id: str) -> str:
        run = await self.status(native_id, run_id)
        return f"fake run {run_id} of {native_id}: {run.native_state}\n"


@hookimpl
def unifier_register_adapters(register: AdapterRegistry) -> None:
    register.add(FAKE_ADAPTER)


def register_fake_adapter(manager: PluginManager | None = None) -> None:
    """Make ``adapter: fake`` available to ``manager`` (default: the installed plugins of
    this process), as a plugin registered at run time (tests only)."""
    import sys

    manager = manager if manager is not None else installed_plugins()
    if "fake" not in manager.adapters.adapters:
        manager.register(sys.modules[__name__], "fake-testing", source="unifier.testing (test plugin)")
