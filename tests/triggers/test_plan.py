"""``unifier plan``: changes as apply would make them, cycles refused (by apply too),
missing jobs and fan-out warned, firings per day estimated from upstream schedules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from unifier.catalog import Catalog
from unifier.config import load_files
from unifier.plan import build_plan
from unifier.testing import build_job, register_fake_adapter
from unifier.triggers.store import list_triggers

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def trigger_yaml(name: str, upstream: list[str], downstream: list[str], mode: str = "all",
                 extra: str = "") -> str:
    when = "\n".join(f"      - job: {u}" for u in upstream)
    then = "\n".join(f"    - job: {d}" for d in downstream)
    return (f"apiVersion: unifier/v1\nkind: Trigger\nmetadata: {{name: {name}}}\nspec:\n"
            f"  when:\n    {mode}:\n{when}\n  then:\n{then}\n{extra}")


def write(path: Path, *docs: str) -> str:
    path.write_text("---\n".join(docs))
    return str(path)


@pytest.fixture
def home_catalog(unifier_home) -> Iterator[Catalog]:
    """The catalog the CLI opens (UNIFIER_HOME's)."""
    catalog = Catalog.open()
    yield catalog
    catalog.close()


def add_jobs(catalog: Catalog, instance: str, schedules: dict[str, str | None], tz: str | None = None) -> None:
    catalog.put_instance(instance, "cron", {"config": {}}, f"hash-{instance}", None)
    catalog.upsert_jobs(instance, [build_job(f"cron://{instance}/{name}", schedule=cron, timezone=tz)
                                   for name, cron in schedules.items()])


CYCLE = [
    trigger_yaml("t1", ["cron://h/a"], ["cron://h/b"]),
    trigger_yaml("t2", ["cron://h/b"], ["cron://h/c"]),
    trigger_yaml("t3", ["cron://h/c"], ["cron://h/a"]),
]


def test_plan_refuses_a_cyclic_trigger_set_naming_the_cycle(tmp_path, home_catalog):
    path = write(tmp_path / "cycle.yaml", *CYCLE)
    result = run_cli("plan", "-f", path)
    assert result.exit_code == 2
    assert "cycle: cron://h/a -> cron://h/b -> cron://h/c -> cron://h/a (triggers t1, t2, t3)" in result.stderr
    assert f"{path}:3:" in result.stderr  # located at the first trigger's name in the file
    # the plan is still shown: what would have been created
    assert "trigger/t1 created" in result.stdout

    as_json = run_cli("plan", "-f", path, "-o", "json")
    assert as_json.exit_code == 2
    data = json.loads(as_json.stdout)
    assert data["refused"] is True
    assert data["cycles"] == [{"jobs": ["cron://h/a", "cron://h/b", "cron://h/c"], "triggers": ["t1", "t2", "t3"],
                               "text": "cycle: cron://h/a -> cron://h/b -> cron://h/c -> cron://h/a "
                                       "(triggers t1, t2, t3)"}]


def test_apply_refuses_the_same_cycle_and_writes_nothing(tmp_path, home_catalog):
    path = write(tmp_path / "cycle.yaml", *CYCLE)
    result = run_cli("apply", "-f", path)
    assert result.exit_code == 2
    assert "cycle: cron://h/a -> cron://h/b -> cron://h/c -> cron://h/a (triggers t1, t2, t3)" in result.stderr
    assert list_triggers(home_catalog) == []
    assert run_cli("apply", "-f", path, "--dry-run").exit_code == 2


def test_a_cycle_closed_by_a_stored_trigger_is_refused_unless_pruned(tmp_path, home_catalog):
    first = write(tmp_path / "first.yaml", *CYCLE[:2])
    assert run_cli("apply", "-f", first).exit_code == 0
    closing = write(tmp_path / "closing.yaml", CYCLE[2])
    result = run_cli("plan", "-f", closing)
    assert result.exit_code == 2
    assert "(triggers t1, t2, t3)" in result.stderr
    assert f"{closing}:3:" in result.stderr  # located at the edit that closes it
    assert run_cli("apply", "-f", closing).exit_code == 2
    assert [t.name for t in list_triggers(home_catalog)] == ["t1", "t2"]
    # with --prune t1 and t2 would go: no cycle remains, and plan and apply agree on that
    pruned = run_cli("plan", "-f", closing, "--prune", "-o", "json")
    assert pruned.exit_code == 0, pruned.stderr
    actions = {(c["kind"], c["name"]): c["action"] for c in json.loads(pruned.stdout)["changes"]}
    assert actions == {("Trigger", "t1"): "deleted", ("Trigger", "t2"): "deleted", ("Trigger", "t3"): "created"}
    applied = run_cli("apply", "-f", closing, "--prune", "-o", "json")
    assert {(c["kind"], c["name"]): c["action"] for c in json.loads(applied.stdout)} == actions


def test_a_trigger_that_starts_its_own_upstream_is_a_cycle(tmp_path, home_catalog):
    path = write(tmp_path / "self.yaml", trigger_yaml("again", ["cron://h/a"], ["cron://h/a"]))
    result = run_cli("plan", "-f", path)
    assert result.exit_code == 2
    assert "cycle: cron://h/a -> cron://h/a (triggers again)" in result.stderr


def test_changes_match_apply_created_configured_unchanged(tmp_path, home_catalog):
    one = trigger_yaml("one", ["cron://h/a"], ["cron://h/b"])
    two = trigger_yaml("two", ["cron://h/b"], ["cron://h/c"])
    assert run_cli("apply", "-f", write(tmp_path / "v1.yaml", one, two)).exit_code == 0
    changed_two = trigger_yaml("two", ["cron://h/b"], ["cron://h/d"])
    three = trigger_yaml("three", ["cron://h/d"], ["cron://h/e"])
    path = write(tmp_path / "v2.yaml", one, changed_two, three)
    planned = json.loads(run_cli("plan", "-f", path, "-o", "json").stdout)["changes"]
    actions = {c["name"]: c["action"] for c in planned if c["kind"] == "Trigger"}
    assert actions == {"one": "unchanged", "two": "configured", "three": "created"}
    applied = json.loads(run_cli("apply", "-f", path, "-o", "json").stdout)
    assert {c["name"]: c["action"] for c in applied if c["kind"] == "Trigger"} == actions


def test_missing_jobs_are_warned_with_the_reason_and_the_trigger(tmp_path, home_catalog):
    add_jobs(home_catalog, "h", {"a": "*/15 * * * *"})
    path = write(tmp_path / "t.yaml",
                 trigger_yaml("known-to-typo", ["cron://h/a"], ["cron://h/typo"]),
                 trigger_yaml("elsewhere", ["cron://h/a"], ["jenkins://nowhere/deploy"]))
    result = run_cli("plan", "-f", path)
    assert result.exit_code == 0, result.stderr
    assert ("job cron://h/typo is not in the catalog: instance h has no such job (check the name, or run "
            "`unifier sync h`); named by trigger(s) known-to-typo") in result.stderr
    assert ("job jenkins://nowhere/deploy is not in the catalog: no instance named nowhere in the catalog "
            "or the files; named by trigger(s) elsewhere") in result.stderr
    assert "cron://h/a is not" not in result.stderr
    warnings = json.loads(run_cli("plan", "-f", path, "-o", "json").stdout)["warnings"]
    assert sorted(w["subject"] for w in warnings if w["kind"] == "missing-job") == [
        "cron://h/typo", "jenkins://nowhere/deploy"]


def test_jobs_of_an_instance_the_same_files_create_are_said_to_come_at_first_sync(tmp_path, home_catalog):
    register_fake_adapter()
    instance = ("apiVersion: unifier/v1\nkind: Instance\nmetadata: {name: fresh}\n"
                "spec:\n  adapter: fake\n  config: {jobs: [{id: x}]}\n")
    path = write(tmp_path / "t.yaml", instance, trigger_yaml("t", ["fake://fresh/x"], ["fake://fresh/y"]))
    data = json.loads(run_cli("plan", "-f", path, "-o", "json").stdout)
    assert {(c["kind"], c["name"], c["action"]) for c in data["changes"]} == {
        ("Instance", "fresh", "created"), ("Trigger", "t", "created")}
    messages = {w["subject"]: w["message"] for w in data["warnings"]}
    assert messages["fake://fresh/x"] == ("job fake://fresh/x is not in the catalog: instance fresh is new: its "
                                          "jobs are discovered at its first sync after apply; named by trigger(s) t")


def test_fan_out_beyond_the_limit_is_warned(tmp_path, home_catalog):
    targets = [f"cron://h/t{i}" for i in range(4)]
    path = write(tmp_path / "t.yaml", trigger_yaml("wide", ["cron://h/a"], targets[:3]),
                 trigger_yaml("more", ["cron://h/a"], targets[3:]))
    result = run_cli("plan", "-f", path, "--max-fan-out", "3", "-o", "json")
    fan = [w for w in json.loads(result.stdout)["warnings"] if w["kind"] == "fan-out"]
    assert [(w["subject"], w["message"]) for w in fan] == [
        ("cron://h/a", "cron://h/a starts 4 jobs directly (limit 3): " + ", ".join(targets))]
    quiet = json.loads(run_cli("plan", "-f", path, "--max-fan-out", "4", "-o", "json").stdout)
    assert not [w for w in quiet["warnings"] if w["kind"] == "fan-out"]


def estimates_of(catalog: Catalog, path: str) -> dict[str, float | None]:
    plan = build_plan(catalog, load_files([path]), now=NOW)
    return {e.trigger: e.firings_per_day for e in plan.estimates}


def test_firings_per_day_from_upstream_schedules(tmp_path, home_catalog):
    add_jobs(home_catalog, "h", {
        "quarter": "*/15 * * * *",  # 96 a day
        "hourly": "@hourly",  # 24
        "morning": "0 9 * * *",  # 1
        "manual": None,  # runs only when asked: 0 from its schedule
    }, tz="Europe/Paris")
    path = write(tmp_path / "t.yaml",
                 trigger_yaml("after-quarter", ["cron://h/quarter"], ["cron://h/x"]),
                 trigger_yaml("all-of", ["cron://h/quarter", "cron://h/hourly"], ["cron://h/y"]),
                 trigger_yaml("any-of", ["cron://h/quarter", "cron://h/hourly", "cron://h/morning"],
                              ["cron://h/z"], mode="any"),
                 trigger_yaml("manual-only", ["cron://h/manual"], ["cron://h/w"]),
                 trigger_yaml("paused", ["cron://h/quarter"], ["cron://h/v"], extra="  paused: true\n"))
    assert estimates_of(home_catalog, path) == {
        "after-quarter": 96, "all-of": 24, "any-of": 121, "manual-only": 0, "paused": 0}


def test_firings_per_day_propagate_down_chains(tmp_path, home_catalog):
    add_jobs(home_catalog, "h", {"quarter": "*/15 * * * *", "b": None, "hourly": "0 * * * *", "c": "0 12 * * *"})
    path = write(tmp_path / "t.yaml",
                 trigger_yaml("ab", ["cron://h/quarter"], ["cron://h/b"]),
                 # b has no schedule of its own: it runs as often as ab fires
                 trigger_yaml("bc", ["cron://h/b"], ["cron://h/c", "cron://h/d"]),
                 # c runs on its own schedule (1) and when bc fires (96)
                 trigger_yaml("cd", ["cron://h/c"], ["cron://h/e"], mode="any"),
                 trigger_yaml("ghost", ["cron://h/nosuch"], ["cron://h/f"]))
    plan = build_plan(home_catalog, load_files([path]), now=NOW)
    by_name = {e.trigger: e for e in plan.estimates}
    assert by_name["ab"].firings_per_day == 96
    assert by_name["bc"].firings_per_day == 96
    assert by_name["bc"].runs_started_per_day == 192  # two downstream jobs per firing
    assert by_name["cd"].firings_per_day == 97
    assert by_name["cd"].upstream == (("cron://h/c", 97),)
    assert by_name["ghost"].firings_per_day is None  # an unknown upstream: unknown, not 0


def test_estimate_is_in_the_cli_output(tmp_path, home_catalog):
    add_jobs(home_catalog, "h", {"quarter": "*/15 * * * *"})
    path = write(tmp_path / "t.yaml", trigger_yaml("q", ["cron://h/quarter"], ["cron://h/b"]))
    data = json.loads(run_cli("plan", "-f", path, "-o", "json").stdout)
    assert data["estimates"] == [{"trigger": "q", "mode": "all", "paused": False, "firings_per_day": 96.0,
                                  "runs_started_per_day": 96.0,
                                  "upstream": [{"job": "cron://h/quarter", "runs_per_day": 96.0}]}]
    table = run_cli("plan", "-f", path)
    assert "Plan: 1 to create, 0 to change, 0 to delete." in table.stdout
    line = next(row for row in table.stdout.splitlines() if row.startswith("q "))
    assert "96" in line


def test_storm_guard_expected_to_trip_is_warned(tmp_path, home_catalog):
    add_jobs(home_catalog, "h", {"minutely": "* * * * *"})
    path = write(tmp_path / "t.yaml", trigger_yaml(
        "hot", ["cron://h/minutely"], ["cron://h/b"], extra="  storm_guard: {max_firings: 20, window: 1h}\n"))
    plan = build_plan(home_catalog, load_files([path]), now=NOW)
    [warning] = [w for w in plan.warnings if w.kind == "storm-guard"]
    assert warning.message == ("trigger hot is expected to fire 60 times per 1h, over its storm guard (20): "
                               "it would pause")
