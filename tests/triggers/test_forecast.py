"""``unifier next``: schedule- and trigger-driven runs in time order, downstream starts
from upstream median durations, unknown durations said."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli_helpers import run_cli
from unifier.catalog import Catalog
from unifier.forecast import forecast, median_duration
from unifier.model import RunState
from unifier.plan import stored_triggers
from unifier.testing import build_job, build_run
from unifier.triggers.store import put_trigger

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


@pytest.fixture
def home_catalog(unifier_home) -> Iterator[Catalog]:
    catalog = Catalog.open()
    yield catalog
    catalog.close()


def jobs(catalog: Catalog, instance: str, kind: str, *found) -> None:
    catalog.put_instance(instance, kind, {"config": {}}, f"hash-{instance}", None)
    catalog.upsert_jobs(instance, list(found))


def past_runs(catalog: Catalog, job: str, seconds: list[float], state: RunState = RunState.SUCCEEDED) -> None:
    runs = []
    for i, taken in enumerate(seconds):
        start = NOW - timedelta(days=i + 1)
        runs.append(build_run(job, f"{state.value}-{i}", state, started_at=start,
                              ended_at=start + timedelta(seconds=taken)))
    catalog.record_runs(runs)


def trigger(catalog: Catalog, name: str, upstream: list[str], downstream: list[str], mode: str = "all",
            **extra) -> None:
    put_trigger(catalog, name, {"when": {mode: [{"job": u} for u in upstream]},
                                "then": [{"job": d} for d in downstream], **extra})


@pytest.fixture
def scene(home_catalog) -> Catalog:
    c = home_catalog
    jobs(c, "h", "cron",
         build_job("cron://h/hourly", schedule="0 * * * *"),
         build_job("cron://h/other", schedule="1 11 * * *"),
         build_job("cron://h/notify"),
         build_job("cron://h/paused", schedule="*/5 * * * *", paused=True))
    jobs(c, "p", "airflow", build_job("airflow://p/load"))
    jobs(c, "ci", "jenkins", build_job("jenkins://ci/deploy"))
    # the tool predicts its own next run (no cron expression to compute it from)
    jobs(c, "k", "kubernetes", build_job("kubernetes://k/batch/report", next_run_at=NOW + timedelta(minutes=15)))
    past_runs(c, "cron://h/hourly", [60, 120, 600])  # median 2m
    past_runs(c, "cron://h/hourly", [5000], RunState.FAILED)  # failures do not count
    past_runs(c, "airflow://p/load", [30, 30, 90])  # median 30s
    trigger(c, "t-load", ["cron://h/hourly"], ["airflow://p/load"])
    trigger(c, "t-deploy", ["airflow://p/load"], ["jenkins://ci/deploy"])  # deploy never ran: unknown
    trigger(c, "t-notify", ["jenkins://ci/deploy"], ["cron://h/notify"])
    trigger(c, "t-off", ["cron://h/hourly"], ["cron://h/never"], paused=True)
    return c


def test_median_of_recent_successful_runs(scene):
    assert median_duration(scene, "cron://h/hourly") == timedelta(minutes=2)
    assert median_duration(scene, "airflow://p/load") == timedelta(seconds=30)
    assert median_duration(scene, "jenkins://ci/deploy") is None


def test_schedule_and_trigger_driven_runs_in_time_order(scene):
    rows = forecast(scene, stored_triggers(scene), within=timedelta(hours=2), now=NOW)
    got = [(r.at.strftime("%H:%M:%S"), r.job, r.reason, r.trigger, r.exact) for r in rows]
    assert got == [
        ("10:45:00", "kubernetes://k/batch/report", "schedule", None, True),
        ("11:00:00", "cron://h/hourly", "schedule", None, True),
        ("11:01:00", "cron://h/other", "schedule", None, True),
        ("11:02:00", "airflow://p/load", "trigger", "t-load", True),  # hourly's end: 11:00 + 2m
        ("11:02:30", "cron://h/notify", "trigger", "t-notify", False),  # deploy's duration unknown
        ("11:02:30", "jenkins://ci/deploy", "trigger", "t-deploy", True),  # load's end: + 30s
        ("12:00:00", "cron://h/hourly", "schedule", None, True),
        ("12:02:00", "airflow://p/load", "trigger", "t-load", True),
        ("12:02:30", "cron://h/notify", "trigger", "t-notify", False),
        ("12:02:30", "jenkins://ci/deploy", "trigger", "t-deploy", True),
    ]
    why = {(r.job, r.at.hour): r.detail for r in rows}
    assert why[("airflow://p/load", 11)] == "trigger t-load after cron://h/hourly ends (median 2m)"
    assert why[("cron://h/notify", 11)] == ("trigger t-notify after jenkins://ci/deploy ends; "
                                            "a duration on the way is unknown: at the earliest")
    assert why[("cron://h/hourly", 11)] == "schedule 0 * * * *"
    assert why[("kubernetes://k/batch/report", 10)] == "schedule (as the tool predicts it)"
    assert rows[3].expected_end == datetime(2026, 11, 24, 11, 2, 30, tzinfo=UTC)


def test_a_run_under_way_fires_its_downstream_when_it_should_end(home_catalog):
    jobs(home_catalog, "h", "cron", build_job("cron://h/long"), build_job("cron://h/after"))
    past_runs(home_catalog, "cron://h/long", [600, 600, 600])
    home_catalog.record_runs([build_run("cron://h/long", "now", RunState.RUNNING,
                                        started_at=NOW - timedelta(minutes=5))])
    trigger(home_catalog, "t", ["cron://h/long"], ["cron://h/after"])
    [row] = forecast(home_catalog, stored_triggers(home_catalog), within=timedelta(hours=1), now=NOW)
    assert (row.job, row.at, row.trigger) == ("cron://h/after", NOW + timedelta(minutes=5), "t")


def test_a_run_under_way_of_unknown_duration_fires_from_now_at_the_earliest(home_catalog):
    jobs(home_catalog, "h", "cron", build_job("cron://h/new"), build_job("cron://h/after"))
    home_catalog.record_runs([build_run("cron://h/new", "1", RunState.RUNNING, started_at=NOW - timedelta(hours=1))])
    trigger(home_catalog, "t", ["cron://h/new"], ["cron://h/after"])
    [row] = forecast(home_catalog, stored_triggers(home_catalog), within=timedelta(hours=1), now=NOW)
    assert (row.job, row.at, row.exact) == ("cron://h/after", NOW, False)


def test_all_waits_for_the_last_upstream_and_any_fires_on_each(home_catalog):
    jobs(home_catalog, "h", "cron",
         build_job("cron://h/a", schedule="0 11 * * *"), build_job("cron://h/b", schedule="30 11 * * *"),
         build_job("cron://h/both"), build_job("cron://h/either"))
    past_runs(home_catalog, "cron://h/a", [600])
    past_runs(home_catalog, "cron://h/b", [60])
    trigger(home_catalog, "all", ["cron://h/a", "cron://h/b"], ["cron://h/both"])
    trigger(home_catalog, "any", ["cron://h/a", "cron://h/b"], ["cron://h/either"], mode="any")
    rows = forecast(home_catalog, stored_triggers(home_catalog), within=timedelta(hours=3), now=NOW)
    found = [(r.at.strftime("%H:%M"), r.job, r.after) for r in rows if r.reason == "trigger"]
    assert found == [
        ("11:10", "cron://h/either", "cron://h/a"),
        ("11:31", "cron://h/both", "cron://h/b"),  # after a (11:10) and b (11:31): the later
        ("11:31", "cron://h/either", "cron://h/b"),
    ]


def test_a_trigger_waiting_for_a_failure_is_not_forecast(home_catalog):
    jobs(home_catalog, "h", "cron", build_job("cron://h/a", schedule="0 11 * * *"), build_job("cron://h/page"))
    past_runs(home_catalog, "cron://h/a", [60])
    put_trigger(home_catalog, "on-failure", {"when": {"all": [{"job": "cron://h/a", "state": "failed"}]},
                                             "then": [{"job": "cron://h/page"}]})
    rows = forecast(home_catalog, stored_triggers(home_catalog), within=timedelta(hours=3), now=NOW)
    assert [r.job for r in rows] == ["cron://h/a"]


def test_time_zone_of_the_schedule_is_used(home_catalog):
    jobs(home_catalog, "h", "cron", build_job("cron://h/paris", schedule="0 9 * * *", timezone="Europe/Paris"))
    [row] = forecast(home_catalog, [], within=timedelta(hours=24), now=NOW)
    assert row.at == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # 09:00 CET is 08:00 UTC
    assert row.detail == "schedule 0 9 * * * Europe/Paris"


def test_cli_next_lists_in_time_order_with_the_reason(scene):
    result = run_cli("next", "--within", "3h", "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    assert {r["job"] for r in rows if r["reason"] == "trigger"} == {
        "airflow://p/load", "jenkins://ci/deploy", "cron://h/notify"}
    assert "cron://h/paused" not in {r["job"] for r in rows}
    assert "cron://h/never" not in {r["job"] for r in rows}  # its trigger is paused
    table = run_cli("next", "--within", "3h")
    assert "trigger t-load after cron://h/hourly ends (median 2m)" in table.stdout
    assert run_cli("next", "--within", "soon").exit_code == 2
