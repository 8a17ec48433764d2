"""Firings run concurrently, limited per downstream instance: a slow tool (a Jenkins
queue that holds a build for 30 s) delays only its own firings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from unifier.actions import trigger_job, wait_for_run
from unifier.apply import apply
from unifier.catalog import Catalog
from unifier.config import load_files
from unifier.reconciler import Reconciler
from unifier.testing.fake import FakeAdapter, FakeSettings, register_fake_adapter
from unifier.triggers.store import list_firings


class SlowAdapter(FakeAdapter):
    """A fake tool whose trigger() waits until the test opens the gate, as a real tool's
    queue would, and counts how many calls wait at once."""

    kind = "slow"
    gate: ClassVar[asyncio.Event | None] = None
    waiting: ClassVar[int] = 0
    most_waiting: ClassVar[int] = 0

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *, fired_at=None):
        cls = type(self)
        cls.waiting += 1
        cls.most_waiting = max(cls.most_waiting, cls.waiting)
        try:
            assert cls.gate is not None
            await cls.gate.wait()
        finally:
            cls.waiting -= 1
        return await super().trigger(native_id, params, firing_id)


@pytest.fixture(autouse=True)
def tools() -> Iterator[None]:
    register_fake_adapter()
    from unifier.plugins import get_plugin_manager

    registry = get_plugin_manager().adapters
    if "slow" not in registry.adapters:
        registry.add_adapter(kind="slow", settings=FakeSettings, implementation=f"{__name__}:SlowAdapter")
    FakeAdapter.worlds.clear()
    SlowAdapter.waiting = SlowAdapter.most_waiting = 0
    yield
    FakeAdapter.worlds.clear()


def configure(tmp_path, slow_limit: int) -> Catalog:
    path = tmp_path / "unifier.yaml"
    path.write_text(f"""\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: up}}
spec:
  adapter: fake
  poll_interval: 0
  config: {{queue_seconds: 0, jobs: [{{id: a, duration: 0.01}}, {{id: b, duration: 0.01}}]}}
---
apiVersion: unifier/v1
kind: Instance
metadata: {{name: queued}}
spec:
  adapter: slow
  poll_interval: 0
  max_concurrent_firings: {slow_limit}
  config: {{queue_seconds: 0, jobs: [{{id: s, duration: 0.01}}]}}
---
apiVersion: unifier/v1
kind: Instance
metadata: {{name: quick}}
spec:
  adapter: fake
  poll_interval: 0
  config: {{queue_seconds: 0, jobs: [{{id: q, duration: 0.01}}]}}
---
apiVersion: unifier/v1
kind: Trigger
metadata: {{name: slow-after-a}}
spec:
  when: {{any: [{{job: fake://up/a}}]}}
  then: [{{job: slow://queued/s}}]
---
apiVersion: unifier/v1
kind: Trigger
metadata: {{name: quick-after-b}}
spec:
  when: {{any: [{{job: fake://up/b}}]}}
  then: [{{job: fake://quick/q}}]
""")
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    apply(catalog, load_files([path]))
    return catalog


async def finished(catalog: Catalog, uri: str) -> None:
    run = await trigger_job(catalog, uri, {})
    assert (await wait_for_run(catalog, run, timeout=5, interval=0.02)).state.terminal


async def until(condition, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_a_slow_tool_does_not_hold_another_instances_firing(tmp_path):
    SlowAdapter.gate = asyncio.Event()
    catalog = configure(tmp_path, slow_limit=4)
    loop = Reconciler(catalog, interval=0.05)
    running = asyncio.create_task(loop.run())
    try:
        await finished(catalog, "fake://up/a")
        await until(lambda: SlowAdapter.waiting == 1, "the slow firing never reached its tool")

        await finished(catalog, "fake://up/b")  # while the slow tool still holds its call
        def statuses() -> dict[str, str]:
            return {f.trigger: f.status for f in list_firings(catalog)}

        await until(lambda: statuses().get("quick-after-b") == "issued",
                    "the quick firing waited for the slow tool")
        assert SlowAdapter.waiting == 1  # the slow call is still in progress
        assert statuses() == {"slow-after-a": "pending", "quick-after-b": "issued"}
        assert len(catalog.list_runs(job="fake://quick/q")) == 1

        SlowAdapter.gate.set()
        await until(lambda: {f.status for f in list_firings(catalog)} == {"issued"},
                    "the slow firing did not finish once its tool answered")
    finally:
        SlowAdapter.gate.set()
        loop.stop()
        await asyncio.wait_for(running, timeout=30)
    assert len(catalog.list_runs(job="slow://queued/s")) == 1
    assert len(catalog.list_runs(job="fake://quick/q")) == 1
    catalog.close()


@pytest.mark.parametrize("limit", [1, 3])
async def test_firings_to_one_instance_wait_for_its_limit(tmp_path, limit):
    SlowAdapter.gate = asyncio.Event()
    catalog = configure(tmp_path, slow_limit=limit)
    loop = Reconciler(catalog, interval=0.05)
    running = asyncio.create_task(loop.run())
    try:
        for _ in range(4):  # four upstream runs: four firings to the slow instance
            await finished(catalog, "fake://up/a")
        await until(lambda: len(list_firings(catalog)) == 4, "four firings were not decided")
        await until(lambda: SlowAdapter.waiting == limit, f"{limit} call(s) never reached the tool")
        await asyncio.sleep(0.3)  # cycles go on meanwhile: none may add a call over the limit
        assert SlowAdapter.waiting == limit
        SlowAdapter.gate.set()
        await until(lambda: {f.status for f in list_firings(catalog)} == {"issued"},
                    "the firings did not all finish")
    finally:
        SlowAdapter.gate.set()
        loop.stop()
        await asyncio.wait_for(running, timeout=30)
    assert SlowAdapter.most_waiting == limit
    assert len(catalog.list_runs(job="slow://queued/s")) == 4
    catalog.close()
