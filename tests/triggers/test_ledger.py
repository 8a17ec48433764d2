"""Triggers end to end inside one process: runs finish in a (fake) tool, the control
loop decides firings from the catalog, writes them to the ledger, and starts the
downstream runs, each exactly once, with parameters and causes."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from unifier.actions import trigger_job, wait_for_run
from unifier.apply import apply
from unifier.catalog import Catalog
from unifier.config import load_files
from unifier.errors import ToolUnavailable
from unifier.model import CauseKind, RunKey
from unifier.reconciler import Reconciler
from unifier.testing.fake import FakeAdapter, FakeSettings, register_fake_adapter
from unifier.triggers.store import (
    get_trigger,
    list_firings,
    put_trigger,
    resume_trigger,
)


class FlakyAdapter(FakeAdapter):
    """A fake tool that can be taken down: trigger() then fails as a real one would."""

    kind = "flaky"
    down: ClassVar[set[str]] = set()

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *, fired_at=None):
        if self.instance in self.down:
            raise ToolUnavailable("connection refused", instance=self.instance)
        return await super().trigger(native_id, params, firing_id)


@pytest.fixture(autouse=True)
def tools() -> Iterator[None]:
    register_fake_adapter()
    from unifier.plugins import get_plugin_manager

    registry = get_plugin_manager().adapters
    if "flaky" not in registry.adapters:
        registry.add_adapter(kind="flaky", settings=FakeSettings,
                             implementation=f"{__name__}:FlakyAdapter")
    FakeAdapter.worlds.clear()
    FlakyAdapter.down.clear()
    yield
    FakeAdapter.worlds.clear()


INSTANCES = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: up}
spec:
  adapter: fake
  poll_interval: 0
  config:
    queue_seconds: 0
    jobs: [{id: a, duration: 0.01}, {id: b, duration: 0.01}, {id: bad, outcome: failed, duration: 0.01}]
---
apiVersion: unifier/v1
kind: Instance
metadata: {name: down}
spec:
  adapter: flaky
  poll_interval: 0
  config:
    queue_seconds: 0
    jobs: [{id: c, duration: 0.01}, {id: d, duration: 0.01}]
"""


def configure(catalog: Catalog, tmp_path, *triggers: str) -> None:
    path = tmp_path / "unifier.yaml"
    path.write_text("---\n".join([INSTANCES, *(textwrap.dedent(t) for t in triggers)]))
    apply(catalog, load_files([path]))


async def finished(catalog: Catalog, uri: str, params: dict[str, Any] | None = None) -> RunKey:
    """Start a run by hand and wait until the catalog has it ended."""
    run = await trigger_job(catalog, uri, params or {})
    run = await wait_for_run(catalog, run, timeout=5, interval=0.02)
    assert run.state.terminal
    return run.key


async def cycles(catalog: Catalog, n: int = 3) -> None:
    loop = Reconciler(catalog, interval=0)
    for _ in range(n):
        await loop.cycle()
        await asyncio.sleep(0.03)


ANY = """\
apiVersion: unifier/v1
kind: Trigger
metadata: {name: c-after-a}
spec:
  when:
    any:
      - job: fake://up/a
  then:
    - job: flaky://down/c
      params:
        FROM: "{{ upstream['fake://up/a'].run_id }}"
        WHO: "{{ trigger }}"
        N: 3
"""


async def test_a_finished_upstream_run_fires_once_with_params_and_cause(catalog, tmp_path):
    configure(catalog, tmp_path, ANY)
    upstream = await finished(catalog, "fake://up/a")
    await cycles(catalog)
    await cycles(catalog)  # more cycles decide nothing more: the run is consumed

    [firing] = list_firings(catalog, "c-after-a")
    assert firing.status == "issued"
    assert firing.upstream_runs == [upstream]
    [downstream] = firing.downstream_runs
    run = catalog.get_run(downstream.job, downstream.run_id)
    assert run.job == "flaky://down/c"
    assert run.parameters == {"FROM": upstream.run_id, "WHO": "c-after-a", "N": 3}
    assert run.cause.kind == CauseKind.TRIGGER
    assert (run.cause.trigger, run.cause.firing_id) == ("c-after-a", firing.id)
    assert run.cause.upstream_runs == [upstream]
    assert len(catalog.list_runs(job="flaky://down/c")) == 1


async def test_runs_that_ended_before_the_trigger_existed_never_fire_it(catalog, tmp_path):
    configure(catalog, tmp_path)
    await finished(catalog, "fake://up/a")
    await cycles(catalog, 1)
    configure(catalog, tmp_path, ANY)
    await cycles(catalog)
    assert list_firings(catalog) == []
    second = await finished(catalog, "fake://up/a")
    await cycles(catalog)
    assert [f.upstream_runs for f in list_firings(catalog)] == [[second]]


async def test_any_fires_once_per_qualifying_run_and_only_for_the_states_asked(catalog, tmp_path):
    configure(catalog, tmp_path, """\
        apiVersion: unifier/v1
        kind: Trigger
        metadata: {name: on-failure}
        spec:
          when:
            any:
              - job: fake://up/bad
                state: failed
              - job: fake://up/a
                state: [failed, cancelled]
          then:
            - job: flaky://down/d
        """)
    ok = await finished(catalog, "fake://up/a")  # succeeded: not a state this trigger waits for
    bad1 = await finished(catalog, "fake://up/bad")
    bad2 = await finished(catalog, "fake://up/bad")
    await cycles(catalog)
    fired = sorted(k.run_id for f in list_firings(catalog) for k in f.upstream_runs)
    assert fired == sorted([bad1.run_id, bad2.run_id])
    assert ok.run_id not in fired
    assert len(catalog.list_runs(job="flaky://down/d")) == 2


ALL = """\
apiVersion: unifier/v1
kind: Trigger
metadata: {name: join}
spec:
  when:
    all:
      - job: fake://up/a
      - job: fake://up/b
  then:
    - job: flaky://down/c
      params: {A: "{{ upstream['fake://up/a'].run_id }}", B: "{{ upstream['fake://up/b'].run_id }}"}
"""


async def test_all_waits_for_every_condition_then_takes_the_newest_run_of_each(catalog, tmp_path):
    configure(catalog, tmp_path, ALL)
    await finished(catalog, "fake://up/a")
    a2 = await finished(catalog, "fake://up/a")
    await cycles(catalog)
    assert list_firings(catalog) == []  # b has not run yet
    b1 = await finished(catalog, "fake://up/b")
    await cycles(catalog)
    [firing] = list_firings(catalog)
    assert sorted(firing.upstream_runs, key=lambda k: k.job) == [a2, b1]
    run = catalog.get_run(*firing.downstream_runs[0].model_dump().values())
    assert run.parameters == {"A": a2.run_id, "B": b1.run_id}
    # the older run of a was superseded: another b alone fires nothing
    await finished(catalog, "fake://up/b")
    await cycles(catalog)
    assert len(list_firings(catalog)) == 1


async def test_all_within_a_window_ignores_runs_too_far_apart(catalog, tmp_path):
    configure(catalog, tmp_path, ALL.replace("      - job: fake://up/b\n",
                                             "      - job: fake://up/b\n    within: 4s\n"))
    # a window wide enough that a loaded test machine still ends b and the next a inside it
    await finished(catalog, "fake://up/a")
    await asyncio.sleep(4.3)
    await finished(catalog, "fake://up/b")
    await cycles(catalog)
    assert list_firings(catalog) == []
    await finished(catalog, "fake://up/a")  # now both ended inside the window
    await cycles(catalog)
    assert len(list_firings(catalog)) == 1


async def test_a_template_that_fails_to_render_is_a_recorded_failed_firing(catalog, tmp_path):
    configure(catalog, tmp_path, """\
        apiVersion: unifier/v1
        kind: Trigger
        metadata: {name: typo}
        spec:
          when:
            any: [{job: fake://up/a}, {job: fake://up/b}]
          then:
            - job: flaky://down/c
              params: {A: "{{ upstream['fake://up/a'].run_id }}"}
        """, ANY)
    await finished(catalog, "fake://up/b")  # an `any` firing from b has no upstream a
    await finished(catalog, "fake://up/a")
    await cycles(catalog)
    [failed] = list_firings(catalog, "typo", status="failed")
    assert "then[0].params.A" in failed.error and "UndefinedError" in failed.error
    assert failed.downstream_runs == []
    # the loop went on: the firing from a, and the other trigger, were issued
    assert len(list_firings(catalog, "typo", status="issued")) == 1
    assert len(list_firings(catalog, "c-after-a", status="issued")) == 1


async def test_a_downstream_tool_that_is_down_keeps_the_firing_pending_then_issues_it(catalog, tmp_path):
    configure(catalog, tmp_path, ANY)
    FlakyAdapter.down.add("down")
    await finished(catalog, "fake://up/a")
    await cycles(catalog)
    [firing] = list_firings(catalog)
    assert firing.status == "pending" and "connection refused" in firing.error
    assert firing.next_attempt_at is not None and firing.attempts == 1
    FlakyAdapter.down.clear()
    await asyncio.sleep(2.1)  # the first backoff
    await cycles(catalog)
    [firing] = list_firings(catalog)
    assert firing.status == "issued" and firing.error is None
    assert len(catalog.list_runs(job="flaky://down/c")) == 1


async def test_storm_guard_pauses_a_trigger_that_fires_itself_in_a_loop(catalog, tmp_path):
    configure(catalog, tmp_path)
    # a -> a: a loop `unifier apply` would refuse as a cycle; written here directly
    put_trigger(catalog, "loop", {
        "when": {"any": [{"job": "fake://up/a"}]}, "then": [{"job": "fake://up/a"}],
        "storm_guard": {"max_firings": 3, "window": "1h"}})
    await finished(catalog, "fake://up/a")
    for _ in range(40):
        await cycles(catalog, 1)
        if get_trigger(catalog, "loop").paused:
            break
    trigger = get_trigger(catalog, "loop")
    assert trigger.paused
    assert "storm guard: 3 firings in the last 1h (max 3)" in trigger.paused_reason
    assert len(list_firings(catalog, "loop")) == 3
    await cycles(catalog, 3)
    assert len(list_firings(catalog, "loop")) == 3  # paused: nothing more
    assert len(catalog.list_runs(job="fake://up/a")) == 4  # the first one and three firings

    assert resume_trigger(catalog, "loop")
    assert not get_trigger(catalog, "loop").paused


async def test_applying_a_changed_spec_resumes_a_storm_paused_trigger(catalog, tmp_path):
    guarded = ANY + "  storm_guard: {max_firings: 1, window: 1h}\n"
    configure(catalog, tmp_path, guarded)
    for _ in range(2):
        await finished(catalog, "fake://up/a")
    await cycles(catalog)
    trigger = get_trigger(catalog, "c-after-a")
    assert trigger.paused and trigger.paused_reason.startswith("storm guard")
    assert len(list_firings(catalog)) == 1

    configure(catalog, tmp_path, guarded.replace("max_firings: 1", "max_firings: 5"))
    assert not get_trigger(catalog, "c-after-a").paused
    await cycles(catalog)
    assert len(list_firings(catalog)) == 2  # the run that waited is fired now
    assert {f.status for f in list_firings(catalog)} == {"issued"}


async def test_a_paused_trigger_fires_nothing_for_runs_that_end_meanwhile(catalog, tmp_path):
    configure(catalog, tmp_path, ANY.replace("  then:\n", "  paused: true\n  then:\n"))
    await finished(catalog, "fake://up/a")
    await cycles(catalog)
    assert list_firings(catalog) == []
    assert get_trigger(catalog, "c-after-a").paused_reason.startswith("paused in its spec")
    assert catalog.list_runs(job="flaky://down/c") == []
    assert len(catalog.list_runs(job="fake://up/a")) == 1


async def test_evaluation_stops_at_a_gap_in_event_ids_until_it_fills_or_grows_old(tmp_path, monkeypatch):
    """A transaction that took event ids earlier may commit later (PostgreSQL): the
    cursor must not move past ids it has not seen, or their runs would never fire."""
    from sqlalchemy import func, select

    from unifier.catalog.tables import RunEventRow
    from unifier.model import utcnow
    from unifier.triggers import evaluate as evaluation

    catalog = Catalog.open(f"sqlite:///{tmp_path / 'gaps.db'}")  # explicit ids: SQLite only
    configure(catalog, tmp_path, ANY)
    evaluator = evaluation.Evaluator(catalog)  # remembers when it first saw each gap

    def finished_event(offset: int, run_id: str) -> None:
        with catalog.session() as s:
            s.add(RunEventRow(id=top + offset, job="fake://up/a", run_id=run_id, attempt=1,
                              event_type="COMPLETE", state="succeeded", event_time=utcnow(),
                              recorded_at=utcnow()))

    with catalog.session() as s:
        top = s.scalar(select(func.max(RunEventRow.id))) or 0
    finished_event(2, "second")  # id top+1 is still being written elsewhere
    assert evaluator.evaluate().firings == []
    finished_event(1, "first")
    assert len(evaluator.evaluate().firings) == 2

    finished_event(4, "after-a-rollback")  # top+3 will never come
    assert evaluator.evaluate().firings == []
    evaluator.gap_grace = 0.0
    assert len(evaluator.evaluate().firings) == 1
    assert sorted(f.upstream_runs[0].run_id for f in list_firings(catalog)) == [
        "after-a-rollback", "first", "second"]
    catalog.close()
