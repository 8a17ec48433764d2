"""One sync cycle: runs arrive in the catalog, a tool that is down degrades only its
own instance, and the control loop keeps its adapters alive between cycles."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict

from unifier.errors import ToolUnavailable
from unifier.plugins import adapter_registry
from unifier.sync import AdapterPool, sync_all
from unifier.testing import FakeAdapter, register_fake_adapter

register_fake_adapter()


class DownSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DownAdapter(FakeAdapter):
    """A tool that refuses connections."""

    kind = "down"
    settings_model = DownSettings

    async def discover(self):
        raise ToolUnavailable("connection refused (127.0.0.1:9)", instance=self.instance)


registry = adapter_registry()
if "down" not in registry.adapters:
    registry._current_source = "tests"
    registry.add_adapter(kind="down", settings=DownSettings, implementation=f"{__name__}:DownAdapter")


def put(catalog, name, adapter, config, spec_hash="h1"):
    catalog.put_instance(name, adapter, {"adapter": adapter, "config": config}, spec_hash, "test")


def test_a_tool_that_is_down_degrades_only_its_own_instance(catalog):
    put(catalog, "good", "fake", {"jobs": [{"id": "etl"}]})
    put(catalog, "bad", "down", {})
    reports = {r.instance: r for r in asyncio.run(sync_all(catalog, discover=True))}
    assert reports["good"].ok and reports["good"].discovered == {"added": 1, "updated": 0, "removed": 0}
    assert not reports["bad"].ok and "connection refused" in reports["bad"].error
    assert [j.uri for j in catalog.list_jobs()] == ["fake://good/etl"]
    assert catalog.get_sync_state("bad").last_error.endswith("connection refused (127.0.0.1:9)")
    assert catalog.get_sync_state("good").last_error is None


def test_runs_reach_the_catalog_and_the_watermark_moves(catalog):
    FakeAdapter.worlds.pop("world", None)  # the fake tool's memory outlives one test
    put(catalog, "world", "fake", {"jobs": [{"id": "etl", "duration": 0}], "queue_seconds": 0})

    async def scenario():
        pool = AdapterPool()
        await sync_all(catalog, pool=pool)
        run = await pool.get(catalog.get_instance("world")).trigger("etl", {"day": "mon"}, "firing-1")
        await asyncio.sleep(0.05)
        [report] = await sync_all(catalog, pool=pool)
        await pool.close()
        return run, report

    run, report = asyncio.run(scenario())
    assert report.runs_seen == 1
    stored = catalog.get_run("fake://world/etl", run.run_id)
    assert (stored.state.value, stored.parameters) == ("succeeded", {"day": "mon"})
    assert catalog.get_sync_state("world").watermark is not None


def test_pool_keeps_adapters_until_the_spec_changes_or_a_sync_fails(catalog):
    put(catalog, "world", "fake", {"jobs": []})
    put(catalog, "bad", "down", {})
    pool = AdapterPool()
    first = pool.get(catalog.get_instance("world"))
    assert pool.get(catalog.get_instance("world")) is first
    put(catalog, "world", "fake", {"jobs": [{"id": "x"}]}, spec_hash="h2")
    assert pool.get(catalog.get_instance("world")) is not first
    down = pool.get(catalog.get_instance("bad"))
    asyncio.run(sync_all(catalog, ["bad"], pool=pool))
    assert pool.get(catalog.get_instance("bad")) is not down  # rebuilt after the failure
    asyncio.run(pool.close())


def test_poll_interval_comes_from_the_adapter_config_where_the_issue_puts_it(catalog):
    from datetime import timedelta

    from unifier.instances import poll_interval

    catalog.put_instance("a", "fake", {"adapter": "fake", "config": {"poll_interval": "5s"}}, "h", None)
    catalog.put_instance("b", "fake", {"adapter": "fake", "poll_interval": "2m", "config": {}}, "h", None)
    catalog.put_instance("c", "fake", {"adapter": "fake", "config": {}}, "h", None)
    got = [poll_interval(catalog.get_instance(n)) for n in "abc"]
    assert got == [timedelta(seconds=5), timedelta(minutes=2), timedelta(seconds=30)]
