"""Pages of the listings: ``limit``, ``cursor`` and the ``Link: <...>; rel="next"`` header,
the same pages through the CLI's ``--limit``/``--cursor``; filters on the server."""

from __future__ import annotations

import json
import re

import httpx

from tests.cli_helpers import run_cli

LOAD = "airflow://prod/load"


def next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


async def follow(client, url: str) -> tuple[list, int]:
    rows, pages = [], 0
    while url:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        rows += response.json()
        pages += 1
        url = next_link(response)
    return rows, pages


async def test_following_link_next_walks_every_row_once(client):
    everything = (await client.get("/api/status")).json()
    assert next_link(await client.get("/api/status")) is None  # one page: no Link
    rows, pages = await follow(client, "/api/status?limit=1")
    assert (rows, pages) == (everything, 3)
    runs, pages = await follow(client, "/api/runs?limit=2")
    assert pages == 2
    assert runs == (await client.get("/api/runs")).json()
    jobs, pages = await follow(client, "/api/jobs?limit=2&instance=hosts")
    assert ([j["uri"] for j in jobs], pages) == (["cron://hosts/extract", "cron://hosts/idle"], 1)


async def test_the_next_link_keeps_the_filters(client):
    first = await client.get("/api/runs?job=" + LOAD + "&limit=1")
    url = next_link(first)
    assert url and "job=airflow" in url and "limit=1" in url and "cursor=" in url
    second = (await client.get(url)).json()
    assert [r["job"] for r in first.json() + second] == [LOAD, LOAD]


async def test_server_side_filters(client):
    async def status(query):
        return [r["job"] for r in (await client.get(f"/api/status?{query}")).json()]

    assert await status("tool=airflow") == [LOAD]
    assert await status("state=succeeded") == ["cron://hosts/extract"]
    assert await status("owner=data&tag=etl") == [LOAD]
    assert await status("text=IDLE") == ["cron://hosts/idle"]
    assert [r["run_id"] for r in (await client.get("/api/runs?tool=cron")).json()] == ["r1"]
    assert [j["uri"] for j in (await client.get("/api/jobs?tag=etl")).json()] == [LOAD]


async def test_a_bad_cursor_or_sort_is_422_not_500(client):
    for path in ("/api/runs?cursor=garbage", "/api/status?sort=sideways", "/api/jobs?cursor=eyJ4Ijox"):
        response = await client.get(path)
        assert response.status_code == 422, path
        assert response.json()["detail"]


def test_the_cli_pages_with_limit_and_cursor(catalog):
    first = run_cli("status", "--limit", "2", "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert [r["job"] for r in json.loads(first.stdout)] == ["airflow://prod/load", "cron://hosts/extract"]
    cursor = re.search(r"--cursor (\S+)", first.stderr).group(1)
    rest = run_cli("status", "--limit", "2", "--cursor", cursor, "-o", "json")
    assert [r["job"] for r in json.loads(rest.stdout)] == ["cron://hosts/idle"]
    assert "--cursor" not in rest.stderr
    everything = run_cli("status", "-o", "json")  # no --limit: every row, as before
    assert len(json.loads(everything.stdout)) == 3
    bad = run_cli("runs", "--cursor", "garbage")
    assert bad.exit_code == 2
    assert "cursor" in bad.stderr
