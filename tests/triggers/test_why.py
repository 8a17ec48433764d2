"""``unifier why``: a run's cause, followed through triggers and upstream runs back to
the runs nothing triggered (a schedule, a person, an outside caller)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli_helpers import run_cli
from unifier.catalog import Catalog
from unifier.model import Cause, CauseKind, RunKey, RunState
from unifier.testing import build_run

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


@pytest.fixture
def home_catalog(unifier_home) -> Iterator[Catalog]:
    catalog = Catalog.open()
    yield catalog
    catalog.close()


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def triggered(trigger: str, *upstream: tuple[str, str]) -> Cause:
    return Cause(kind=CauseKind.TRIGGER, trigger=trigger, firing_id=f"f-{trigger}",
                 upstream_runs=[RunKey(job=j, run_id=r) for j, r in upstream])


@pytest.fixture
def chain(home_catalog) -> Catalog:
    """cron a (schedule) -> terraform b -> airflow c, which also waited for a manual
    jenkins d run -> kubernetes e. Five runs, each started by the one before."""
    home_catalog.record_runs([
        build_run("cron://hosts/extract", "101", started_at=at(0), ended_at=at(5),
                  cause=Cause(kind=CauseKind.SCHEDULE)),
        build_run("terraform://infra/network", "tf-7", started_at=at(6), ended_at=at(9),
                  cause=triggered("net-after-extract", ("cron://hosts/extract", "101"))),
        build_run("jenkins://ci/build", "55", started_at=at(2), ended_at=at(4),
                  cause=Cause(kind=CauseKind.MANUAL, actor="alice")),
        build_run("airflow://prod/load", "manual__2026-11-24T06:10", started_at=at(10), ended_at=at(20),
                  cause=triggered("load-after-both", ("terraform://infra/network", "tf-7"),
                                  ("jenkins://ci/build", "55"))),
        build_run("kubernetes://k8s/batch/report", "report-abc", RunState.RUNNING, started_at=at(21),
                  cause=triggered("report", ("airflow://prod/load", "manual__2026-11-24T06:10"))),
    ])
    return home_catalog


def test_why_names_every_upstream_run_back_to_the_first(chain):
    result = run_cli("why", "kubernetes://k8s/batch/report", "report-abc")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "kubernetes://k8s/batch/report run report-abc  running  2026-11-24 06:21:00Z",
        "  caused by trigger report (firing f-report)",
        "    airflow://prod/load run manual__2026-11-24T06:10  succeeded  2026-11-24 06:10:00Z",
        "      caused by trigger load-after-both (firing f-load-after-both)",
        "        terraform://infra/network run tf-7  succeeded  2026-11-24 06:06:00Z",
        "          caused by trigger net-after-extract (firing f-net-after-extract)",
        "            cron://hosts/extract run 101  succeeded  2026-11-24 06:00:00Z",
        "              caused by schedule",
        "        jenkins://ci/build run 55  succeeded  2026-11-24 06:02:00Z",
        "          caused by manual by alice",
        "root cause: cron://hosts/extract run 101 (schedule); jenkins://ci/build run 55 (manual by alice)",
    ]


def test_why_json_is_the_same_tree(chain):
    data = json.loads(run_cli("why", "kubernetes://k8s/batch/report", "report-abc", "-o", "json").stdout)

    def flatten(node):
        yield node["job"], node["run_id"], node["cause"]["kind"]
        for child in node["upstream"]:
            yield from flatten(child)

    assert list(flatten(data)) == [
        ("kubernetes://k8s/batch/report", "report-abc", "trigger"),
        ("airflow://prod/load", "manual__2026-11-24T06:10", "trigger"),
        ("terraform://infra/network", "tf-7", "trigger"),
        ("cron://hosts/extract", "101", "schedule"),
        ("jenkins://ci/build", "55", "manual"),
    ]
    assert data["cause"]["trigger"] == "report"
    assert data["roots"] == [{"job": "cron://hosts/extract", "run_id": "101", "cause": "schedule"},
                             {"job": "jenkins://ci/build", "run_id": "55", "cause": "manual"}]
    assert data["upstream"][0]["cause"]["upstream_runs"] == [
        {"job": "terraform://infra/network", "run_id": "tf-7"}, {"job": "jenkins://ci/build", "run_id": "55"}]


def test_a_bare_run_id_is_enough_when_unique(chain):
    result = run_cli("why", "tf-7")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("terraform://infra/network run tf-7")
    assert "cron://hosts/extract run 101" in result.stdout


def test_an_ambiguous_or_unknown_run_id_is_refused(chain):
    chain.record_runs([build_run("cron://hosts/other", "101", cause=Cause(kind=CauseKind.SCHEDULE))])
    result = run_cli("why", "101")
    assert result.exit_code == 2
    assert "cron://hosts/extract" in result.stderr and "cron://hosts/other" in result.stderr
    assert "unifier why JOB_URI 101" in result.stderr
    assert run_cli("why", "cron://hosts/other", "101").exit_code == 0
    missing = run_cli("why", "no-such-run")
    assert missing.exit_code == 2 and "no run 'no-such-run'" in missing.stderr


def test_upstream_runs_not_synced_yet_are_named(home_catalog):
    home_catalog.record_runs([build_run(
        "cron://hosts/b", "9", cause=triggered("b-after-a", ("airflow://prod/a", "scheduled__x")))])
    result = run_cli("why", "cron://hosts/b", "9")
    assert "airflow://prod/a run scheduled__x  (not in the catalog: sync its instance)" in result.stdout
    data = json.loads(run_cli("why", "9", "-o", "json").stdout)
    assert data["missing"] == [{"job": "airflow://prod/a", "run_id": "scheduled__x"}]


def test_a_run_reached_twice_is_explained_once(home_catalog):
    # fan-out then fan-in: a starts b and c; d waited for both
    home_catalog.record_runs([
        build_run("cron://h/a", "1", cause=Cause(kind=CauseKind.EXTERNAL, actor="api")),
        build_run("cron://h/b", "2", cause=triggered("ab", ("cron://h/a", "1"))),
        build_run("cron://h/c", "3", cause=triggered("ac", ("cron://h/a", "1"))),
        build_run("cron://h/d", "4", cause=triggered("d", ("cron://h/b", "2"), ("cron://h/c", "3"))),
    ])
    lines = run_cli("why", "cron://h/d", "4").stdout.splitlines()
    assert sum("cron://h/a run 1  succeeded" in line for line in lines) == 1
    assert any(line.strip() == "cron://h/a run 1 (explained above)" for line in lines)
    assert "caused by external (api)" in "\n".join(lines)


def test_upstream_runs_are_read_from_the_ledger_when_the_run_names_only_its_firing(home_catalog):
    from unifier.triggers.ledger import firing_row, insert_firings

    upstream = RunKey(job="cron://h/a", run_id="1")
    with home_catalog.session() as s:
        [fid] = insert_firings(s, [firing_row("b-after-a", [upstream], ["cron://h/b"], T0)])
    home_catalog.record_runs([
        build_run("cron://h/a", "1", cause=Cause(kind=CauseKind.SCHEDULE)),
        build_run("cron://h/b", "2", cause=Cause(kind=CauseKind.TRIGGER, trigger="b-after-a", firing_id=fid)),
    ])
    result = run_cli("why", "cron://h/b", "2")
    assert f"caused by trigger b-after-a (firing {fid})" in result.stdout
    assert "    cron://h/a run 1  succeeded" in result.stdout
    orphan = Cause(kind=CauseKind.TRIGGER, trigger="gone", firing_id="f-unknown")
    home_catalog.record_runs([build_run("cron://h/c", "3", cause=orphan)])
    assert "recorded neither on the run nor in the ledger" in run_cli("why", "3").stdout
