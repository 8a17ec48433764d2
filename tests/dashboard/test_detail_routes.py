"""The read routes the dashboard's detail pages use (unifier.api.details) and the
offline API reference (unifier.api.apidocs), over HTTP against the real server and the
catalog the cron and Terraform adapters filled: each answers what the CLI answers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def cli_json(demo, *args):
    return json.loads(demo.cli(*args, "-o", "json").stdout)


def test_why_by_path_and_by_query_is_unifier_why(http, demo):
    job, run_id = demo.chain.LAST, demo.last_run["run_id"]
    expected = cli_json(demo, "why", job, run_id)
    assert http.get(f"/api/runs/{job}/{run_id}/why").json() == expected
    assert http.get(f"/api/runs/{quote(job, safe='')}/{run_id}/why").json() == expected
    assert http.get("/api/run/why", params={"job": job, "run_id": run_id}).json() == expected
    # the chain, root first: extract (manual) -> network -> report
    assert expected["upstream"][0]["job"] == demo.chain.MIDDLE
    assert expected["upstream"][0]["upstream"][0]["job"] == demo.chain.FIRST
    assert [r["cause"] for r in expected["roots"]] == ["manual"]
    # the plain run route still answers for the run itself
    assert http.get(f"/api/runs/{job}/{run_id}").json()["run_id"] == run_id


def test_why_of_an_unknown_run_is_a_404_with_a_reason(http, demo):
    answer = http.get("/api/run/why", params={"job": demo.chain.LAST, "run_id": "nope"})
    assert answer.status_code == 404
    assert "nope" in answer.json()["detail"]


def test_a_runs_events_are_its_own_state_changes_in_order(http, demo):
    job, run_id = demo.chain.LAST, demo.last_run["run_id"]
    everything = cli_json(demo, "events", "--job", job)
    expected = [e for e in everything if e["run_id"] == run_id]
    got = http.get("/api/run/events", params={"job": job, "run_id": run_id}).json()
    assert got == expected
    assert got[0]["event_type"] == "START" and got[-1]["event_type"] == "COMPLETE"
    assert http.get("/api/run/events", params={"job": job, "run_id": "nope"}).status_code == 404


def test_the_log_tail_is_the_end_of_the_runs_log_from_its_tool(http, demo):
    flaky = cli_json(demo, "runs", "--job", "cron://ops/flaky")[0]
    whole = http.get("/api/run/logs", params={"job": "cron://ops/flaky", "run_id": flaky["run_id"]}).json()
    assert "disk check failed" in "\n".join(whole["lines"])
    assert whole["terminal"] is True and whole["state"] == "failed" and whole["truncated"] is False
    last = http.get("/api/run/logs", params={"job": "cron://ops/flaky", "run_id": flaky["run_id"], "tail": 1}).json()
    assert last["lines"] == whole["lines"][-1:]
    assert last["truncated"] is (len(whole["lines"]) > 1)
    bad = http.get("/api/run/logs", params={"job": "cron://ops/flaky", "run_id": flaky["run_id"], "tail": 0})
    assert bad.status_code == 422


def within_both(rows, before: datetime, after: datetime, window: timedelta):
    """The rows two answers computed a moment apart must share: those after the later
    "now" and inside the earlier one's window (a minute may turn between the two)."""
    return [(r["job"], r["reason"], r["at"], r["trigger"]) for r in rows
            if after < datetime.fromisoformat(r["at"]) <= before + window]


def test_the_forecast_of_a_job_is_its_rows_of_unifier_next(http, demo):
    before = datetime.now(UTC)
    everything = http.get("/api/forecast", params={"within": "2h"}).json()
    cli = cli_json(demo, "next", "--within", "2h")
    after = datetime.now(UTC)
    assert within_both(everything, before, after, timedelta(hours=2)) == within_both(cli, before, after,
                                                                                     timedelta(hours=2))
    heartbeat = http.get("/api/forecast", params={"within": "2h", "job": "cron://ops/heartbeat"}).json()
    assert heartbeat and {r["job"] for r in heartbeat} == {"cron://ops/heartbeat"}
    assert len(heartbeat) >= 119  # every minute
    # a job's own forecast, worked out from it and its upstream jobs only, is its share of the whole
    for job in (demo.chain.FIRST, demo.chain.MIDDLE, demo.chain.LAST):
        before = datetime.now(UTC)
        alone = http.get("/api/forecast", params={"within": "2d", "job": job}).json()
        whole = [r for r in http.get("/api/forecast", params={"within": "2d"}).json() if r["job"] == job]
        after = datetime.now(UTC)
        assert within_both(alone, before, after, timedelta(days=2)) == \
            within_both(whole, before, after, timedelta(days=2)), job
    chained = http.get("/api/forecast", params={"within": "2d", "job": demo.chain.LAST}).json()
    assert chained and chained[0]["trigger"] == "report-after-network"
    assert http.get("/api/forecast", params={"job": "cron://ops/nope"}).status_code == 404
    bad = http.get("/api/forecast", params={"within": "soon"})
    assert bad.status_code == 422 and "within" in bad.json()["detail"]


def test_instance_freshness_marks_data_older_than_two_poll_intervals(http, demo):
    rows = {r["name"]: r for r in http.get("/api/health/instances").json()}
    cli = {r["name"]: r for r in cli_json(demo, "instances")}
    assert set(rows) == set(cli) == {"hosts", "infra", "ops"}
    assert rows["hosts"]["poll_interval_seconds"] == 1 and rows["ops"]["poll_interval_seconds"] == 10
    now = datetime.now(UTC)
    for name, row in rows.items():
        assert row["last_sync_at"] == cli[name]["last_sync_at"]
        last = datetime.fromisoformat(row["last_observed_at"])  # the data's age: the last successful sync
        stale_since = last + timedelta(seconds=2 * row["poll_interval_seconds"])
        assert datetime.fromisoformat(row["stale_since"]) == stale_since
        if abs((stale_since - now).total_seconds()) > 1:  # not on the edge while this test reads it
            assert row["stale"] is (stale_since < now), name


def test_the_api_reference_page_loads_nothing_from_another_origin(http):
    page = http.get("/docs")
    assert page.status_code == 200
    assert not re.findall(r"(?:src|href)=[\"']https?://", page.text), page.text
    for asset in re.findall(r"(?:src|href)=[\"'](/docs/assets/[^\"']+)", page.text):
        answer = http.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 100, asset
    assert http.get("/docs/assets/../../__init__.py").status_code == 404
    assert http.get("/docs/assets/index.html").status_code == 404
    assert http.get("/redoc").status_code == 404  # FastAPI's CDN page is off
    assert "/api/runs/{job}/{run_id}/why" in http.get("/openapi.json").json()["paths"]


def test_a_live_stream_names_its_resume_point_before_any_event(http):
    """A client that sees no event before the stream ends must reconnect from where it
    started, not from whatever is newest by then (the events in between would be lost)."""
    newest = max(e["id"] for e in http.get("/api/events", params={"limit": 10000}).json())
    with http.stream("GET", "/api/events/stream") as stream:
        first = next(stream.iter_text())
    assert re.search(rf"^id: {newest}$", first, re.M), first
    assert "data:" not in first.split("\n\n")[0]
