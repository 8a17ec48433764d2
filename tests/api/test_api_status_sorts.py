"""Every sort and filter the status page offers, answered by ``/api/status`` on SQLite and
on PostgreSQL: each sort's order (ties broken by the job URI, rows without the value
last), and the keyset cursor of each walking every row exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.test_api_pages import follow
from tests.cli_helpers import run_cli
from unifier.api import create_app
from unifier.catalog import Catalog
from unifier.catalog.listing import STATUS_SORTS
from unifier.model import RunState, utcnow
from unifier.status import StatusSort
from unifier.testing import build_job, build_run

NOW = utcnow()
# uri, name, owner, paused, next run (hours ahead, the tool's prediction), last run (state, hours ago)
JOBS: list[tuple[str, str, str, bool, float | None, tuple[RunState, float] | None]] = [
    ("cron://b/j01", "gamma", "ops", False, 3, (RunState.FAILED, 1)),
    ("cron://a/j02", "alpha", "ops", False, 3, (RunState.SUCCEEDED, 1)),  # ties j01 on both times
    ("cron://c/j03", "alpha", "data", True, 1, (RunState.RUNNING, 0.5)),  # paused: no next run
    ("cron://a/j04", "beta", "data", False, None, None),  # never ran, nothing predicted
    ("cron://b/j05", "beta", "web", False, 2, (RunState.FAILED, 2)),
    ("cron://c/j06", "delta", "web", False, 6, None),
    ("cron://a/j07", "gamma", "ops", True, None, (RunState.SUCCEEDED, 0.1)),
    ("cron://b/j08", "alpha", "data", False, 2, (RunState.QUEUED, 3)),
    ("cron://c/j09", "delta", "ops", False, 3, (RunState.FAILED, 1)),
]


@pytest.fixture
def many(catalog_url, monkeypatch) -> Iterator[Catalog]:
    monkeypatch.setenv("UNIFIER_DATABASE_URL", catalog_url)  # the CLI reads the same catalog
    catalog = Catalog.open(catalog_url)
    for instance in "abc":
        catalog.put_instance(instance, "cron", {"config": {}}, f"h-{instance}", "test")
        catalog.upsert_jobs(instance, [
            build_job(uri, name=name, owner=owner, paused=paused, tags=[f"tier-{uri[-1]}"],
                      next_run_at=NOW + timedelta(hours=ahead) if ahead is not None else None)
            for uri, name, owner, paused, ahead, _ in JOBS if uri.startswith(f"cron://{instance}/")])
    catalog.record_runs([build_run(uri, "r1", state, started_at=NOW - timedelta(hours=ago))
                         for uri, *_, last in JOBS if last for state, ago in [last]])
    yield catalog
    catalog.close()


@pytest.fixture
async def http(many) -> Iterator[httpx.AsyncClient]:
    app = create_app(lambda: many)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def _time(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


# each sort as a user reads it: the row's shown values, the job URI breaking ties, no value last
EXPECTED_ORDER: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {
    "job": lambda r: (r["job"],),
    "name": lambda r: (r["name"], r["job"]),
    "instance": lambda r: (r["instance"], r["job"]),
    "state": lambda r: (r["state"] is None, r["state"] or "", r["job"]),
    "last_run": lambda r: (r["last_run_at"] is None, -_time(r["last_run_at"]), r["job"]),
    "next_run": lambda r: (r["next_run_at"] is None, _time(r["next_run_at"]), r["job"]),
}


def test_the_api_and_the_catalog_offer_the_same_sorts():
    assert set(EXPECTED_ORDER) == set(STATUS_SORTS) == {s.value for s in StatusSort}


@pytest.mark.parametrize("sort", list(EXPECTED_ORDER))
async def test_each_sort_pages_every_job_once_in_its_order(http, sort):
    rows, pages = await follow(http, f"/api/status?sort={sort}&limit=2")
    assert pages == 5
    jobs = [r["job"] for r in rows]
    assert sorted(jobs) == sorted(uri for uri, *_ in JOBS)  # none lost, none repeated
    assert jobs == [r["job"] for r in sorted(rows, key=EXPECTED_ORDER[sort])]
    whole = (await http.get(f"/api/status?sort={sort}")).json()
    assert [r["job"] for r in whole] == jobs  # the pages join into the unpaged answer


async def test_the_sorts_put_what_users_expect_first(http):
    async def first(sort: str, **where: str) -> list[str]:
        return [r["job"] for r in (await http.get("/api/status", params={"sort": sort, **where})).json()]

    assert (await first("next_run"))[:2] == ["cron://b/j05", "cron://b/j08"]  # 2 h ahead; j03 is paused
    assert (await first("next_run"))[-3:] == ["cron://a/j04", "cron://a/j07", "cron://c/j03"]  # none
    assert (await first("last_run"))[:2] == ["cron://a/j07", "cron://c/j03"]
    assert (await first("state"))[-2:] == ["cron://a/j04", "cron://c/j06"]  # never ran
    assert await first("name", instance="a") == ["cron://a/j02", "cron://a/j04", "cron://a/j07"]


async def test_a_job_that_appears_mid_walk_neither_repeats_nor_shifts_rows(http, many):
    page = await http.get("/api/status?sort=name&limit=4")
    seen = [r["job"] for r in page.json()]
    many.upsert_jobs("a", [build_job("cron://a/j00", name="alpha")], complete=False)  # before the cursor
    rest, _ = await follow(http, page.links["next"]["url"])
    seen += [r["job"] for r in rest]
    assert sorted(seen) == sorted(uri for uri, *_ in JOBS)


async def test_paused_and_never_ran_filters(http):
    async def jobs(query: str) -> list[str]:
        response = await http.get(f"/api/status?{query}")
        assert response.status_code == 200, response.text
        return [r["job"] for r in response.json()]

    assert await jobs("paused=true") == ["cron://a/j07", "cron://c/j03"]
    assert [j["uri"] for j in (await http.get("/api/jobs?paused=true")).json()] == ["cron://a/j07", "cron://c/j03"]
    assert len(await jobs("paused=false")) == len(JOBS) - 2
    assert await jobs("state=never") == ["cron://a/j04", "cron://c/j06"]
    assert await jobs("state=never&state=failed&paused=false&sort=name") == [
        "cron://a/j04", "cron://b/j05", "cron://c/j06", "cron://c/j09", "cron://b/j01"]
    assert await jobs("text=DATA&sort=instance") == ["cron://a/j04", "cron://b/j08", "cron://c/j03"]  # owner
    assert await jobs("text=tier-7") == ["cron://a/j07"]  # a tag
    rows, pages = await follow(http, "/api/status?paused=false&sort=next_run&limit=3")
    assert pages == 3 and [r["job"] for r in rows][:2] == ["cron://b/j05", "cron://b/j08"]
    assert "paused=false" in (await http.get("/api/status?paused=false&limit=3")).links["next"]["url"]


async def test_bad_sort_or_state_or_paused_is_422(http):
    for query in ("sort=-last_run_at", "sort=next_run_at", "state=never-ran", "paused=maybe", "sort=q"):
        response = await http.get(f"/api/status?{query}")
        assert response.status_code == 422, query
        assert "detail" in response.json()


def test_the_cli_takes_the_same_sorts_and_filters(many):
    found = run_cli("status", "--paused", "--sort", "last_run", "-o", "json")
    assert found.exit_code == 0, found.stderr
    assert [r["job"] for r in json.loads(found.stdout)] == ["cron://a/j07", "cron://c/j03"]
    active = run_cli("status", "--active", "--state", "never", "--sort", "next_run", "-o", "json")
    assert [r["job"] for r in json.loads(active.stdout)] == ["cron://c/j06", "cron://a/j04"]
    assert run_cli("status", "--sort", "sideways").exit_code == 2
