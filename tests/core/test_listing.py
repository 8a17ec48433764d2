"""Listings at scale: filters, scope and cursor pages, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from unifier.catalog.listing import BadPage, JobFilter, RunFilter, glob_to_like
from unifier.model import RunState, utcnow
from unifier.status import status_page
from unifier.testing import build_job, build_run

T0 = utcnow() - timedelta(hours=1)


@pytest.fixture
def filled(catalog):
    catalog.put_instance("ci", "jenkins", {"config": {}}, "h1", "test")
    catalog.put_instance("prod", "airflow", {"config": {}}, "h2", "test")
    catalog.upsert_jobs("ci", [
        build_job("jenkins://ci/team-a/deploy", owner="alice", tags=["deploy", "a"]),
        build_job("jenkins://ci/team-a/x/deploy", owner="alice", tags=["nested"]),
        build_job("jenkins://ci/team-b/deploy", owner="bob", tags=["deploy"]),
        build_job("jenkins://ci/team_c/100%", owner="carol", tags=["odd_name"]),
    ])
    catalog.upsert_jobs("prod", [build_job("airflow://prod/etl_daily", owner="data", tags=["etl"], name="Daily ETL")])
    runs = []
    for i in range(7):  # seven runs of the ETL, one never started
        started = None if i == 3 else T0 + timedelta(minutes=i)
        runs.append(build_run("airflow://prod/etl_daily", f"r{i}", RunState.FAILED if i % 2 else RunState.SUCCEEDED,
                              started_at=started, ended_at=started, queued_at=T0))
    runs.append(build_run("jenkins://ci/team-a/deploy", "1", RunState.RUNNING, started_at=T0))
    runs.append(build_run("jenkins://ci/team-a/x/deploy", "1", RunState.FAILED, started_at=T0, ended_at=T0))
    catalog.record_runs(runs)
    return catalog


def uris(jobs):
    return [j.uri for j in jobs]


def test_scope_is_a_glob_over_job_uris_where_star_crosses_slashes(filled):
    scoped = uris(filled.list_jobs(scope=["jenkins://ci/team-a/*"]))
    assert scoped == ["jenkins://ci/team-a/deploy", "jenkins://ci/team-a/x/deploy"]
    assert uris(filled.list_jobs(scope=["jenkins://ci/team-?/deploy"])) == [
        "jenkins://ci/team-a/deploy", "jenkins://ci/team-b/deploy"]
    # LIKE's own wildcards in a pattern are literal: team_c is not team-c, 100% is not 1000
    assert uris(filled.list_jobs(scope=["jenkins://ci/team_c/100%"])) == ["jenkins://ci/team_c/100%"]
    assert uris(filled.list_jobs(scope=["jenkins://ci/team_a/*"])) == []
    assert filled.list_jobs(scope=[]) == []
    assert len(filled.list_jobs(scope=None)) == 5
    assert uris(filled.list_jobs(scope=["airflow://*", "*/team-b/*"])) == [
        "airflow://prod/etl_daily", "jenkins://ci/team-b/deploy"]


def test_scope_narrows_every_listing(filled):
    scope = ["jenkins://ci/team-a/*"]
    assert {r.job for r in filled.list_runs(scope=scope)} == {
        "jenkins://ci/team-a/deploy", "jenkins://ci/team-a/x/deploy"}
    assert set(filled.latest_runs(scope=scope)) == {"jenkins://ci/team-a/deploy", "jenkins://ci/team-a/x/deploy"}
    assert {e.job for _, e in filled.list_events(scope=scope)} == {
        "jenkins://ci/team-a/deploy", "jenkins://ci/team-a/x/deploy"}
    assert [r.job for r in status_page(filled, scope=scope).items] == [
        "jenkins://ci/team-a/deploy", "jenkins://ci/team-a/x/deploy"]
    assert filled.find_run("r1", scope=scope) == []
    assert [s.instance.name for s in filled.list_instances(scope=scope)] == ["ci"]
    assert [s.instance.name for s in filled.list_instances(scope=["airflow://prod/etl*"])] == ["prod"]
    assert [s.instance.name for s in filled.list_instances(scope=["*"])] == ["ci", "prod"]
    filled.audit("trigger", "jenkins://ci/team-b/deploy", actor="bob")
    filled.audit("trigger", "jenkins://ci/team-a/deploy", actor="alice")
    assert [e["actor"] for e in filled.list_audit(scope=scope)] == ["alice"]


def test_glob_translation_escapes_like_wildcards():
    assert glob_to_like("a_b%c*d?") == "a\\_b\\%c%d_"


def test_job_filters(filled):
    def found(**where):
        return uris(filled.jobs_page(JobFilter(**where)).items)

    assert found(tool="airflow") == ["airflow://prod/etl_daily"]
    assert found(instance="ci", owner="alice") == ["jenkins://ci/team-a/deploy", "jenkins://ci/team-a/x/deploy"]
    assert found(tag="deploy") == ["jenkins://ci/team-a/deploy", "jenkins://ci/team-b/deploy"]
    assert found(tag="odd_name") == ["jenkins://ci/team_c/100%"]
    assert found(tag="odd") == []  # a whole tag, not a substring of one
    assert found(text="daily etl".title()) == ["airflow://prod/etl_daily"]  # the display name
    assert found(text="x/dep") == ["jenkins://ci/team-a/x/deploy"]
    assert found(text="m_c") == ["jenkins://ci/team_c/100%"]


def test_status_filters_by_the_last_runs_state_and_sorts_by_last_run(filled):
    failed = status_page(filled, JobFilter(states=[RunState.FAILED])).items
    assert [r.job for r in failed] == ["jenkins://ci/team-a/x/deploy"]  # the ETL's last run (r6) succeeded
    etl = status_page(filled, JobFilter(tool="airflow")).items[0]
    assert (etl.last_run_id, etl.state) == ("r6", RunState.SUCCEEDED)
    by_last_run = [r.job for r in status_page(filled, sort="last_run").items]
    assert by_last_run[0] == "airflow://prod/etl_daily"  # started T0 + 6 min: the newest
    assert by_last_run[-2:] == ["jenkins://ci/team-b/deploy", "jenkins://ci/team_c/100%"]  # never ran


def test_run_filters(filled):
    def found(**where):
        return [(r.job.rsplit("/", 1)[-1], r.run_id) for r in filled.runs_page(RunFilter(**where)).items]

    assert found(tool="jenkins", states=[RunState.FAILED]) == [("deploy", "1")]
    assert found(owner="alice", states=[RunState.RUNNING]) == [("deploy", "1")]
    assert found(tag="etl", states=[RunState.FAILED]) == [("etl_daily", "r5"), ("etl_daily", "r1"), ("etl_daily", "r3")]
    assert found(text="x/") == [("deploy", "1")]


@pytest.mark.parametrize("sort", ["started", "updated"])
def test_cursor_pages_cover_every_run_once_in_order(filled, sort):
    whole = filled.runs_page(sort=sort).items
    assert len(whole) == 9
    if sort == "started":  # newest start first; the run that never started last
        assert [r.run_id for r in whole if r.job.startswith("airflow")] == ["r6", "r5", "r4", "r2", "r1", "r0", "r3"]
    seen, cursor, pages = [], None, 0
    while True:
        found = filled.runs_page(sort=sort, limit=2, cursor=cursor)
        seen += found.items
        pages += 1
        if found.next_cursor is None:
            break
        cursor = found.next_cursor
    assert pages == 5
    assert [(r.job, r.run_id) for r in seen] == [(r.job, r.run_id) for r in whole]


def test_a_cursor_from_another_listing_or_garbage_is_refused(filled):
    cursor = filled.runs_page(limit=1).next_cursor
    assert cursor
    with pytest.raises(BadPage, match="not one this listing gave out"):
        filled.runs_page(sort="updated", limit=1, cursor=cursor)
    with pytest.raises(BadPage):
        filled.jobs_page(limit=1, cursor="not-a-cursor")
    with pytest.raises(BadPage, match="expected one of"):
        filled.runs_page(sort="sideways")
    with pytest.raises(BadPage, match="at least 1"):
        filled.runs_page(limit=0)


def test_status_pages_by_job_uri(filled):
    first = status_page(filled, limit=3)
    assert [r.job for r in first.items] == [
        "airflow://prod/etl_daily", "jenkins://ci/team-a/deploy", "jenkins://ci/team-a/x/deploy"]
    rest = status_page(filled, limit=3, cursor=first.next_cursor)
    assert [r.job for r in rest.items] == ["jenkins://ci/team-b/deploy", "jenkins://ci/team_c/100%"]
    assert rest.next_cursor is None


def test_latest_run_follows_new_runs_and_ignores_updates_to_older_ones(filled):
    etl = "airflow://prod/etl_daily"
    filled.record_runs([build_run(etl, "r7", RunState.RUNNING, started_at=T0 + timedelta(minutes=30))])
    assert filled.latest_runs()[etl].run_id == "r7"
    filled.record_runs([build_run(etl, "r0", RunState.SUCCEEDED, started_at=T0, ended_at=T0,
                                  details={"late": True})])  # an update of an old run
    assert filled.latest_runs()[etl].run_id == "r7"
    filled.record_runs([build_run(etl, "r7", RunState.FAILED, started_at=T0 + timedelta(minutes=30),
                                  ended_at=T0 + timedelta(minutes=31))])
    [row] = status_page(filled, JobFilter(tool="airflow")).items
    assert (row.last_run_id, row.state) == ("r7", RunState.FAILED)
