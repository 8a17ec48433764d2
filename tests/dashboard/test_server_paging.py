"""The status page against a server that pages and filters (the API of issue 9): it
sends its filters and a limit to /api/status and follows the RFC 8288 ``Link:
<...>; rel="next"`` header. A route in the browser stands in for that server on the
wire: it reads the real rows from the real server, then answers as a paging server
does (at most PAGE rows, a ``cursor`` to go on, the ``state`` filter applied)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlencode, urlsplit

from playwright.sync_api import expect

from tests.dashboard.test_pages import assert_clean

STATUS_QUERY = re.compile(r"/api/status\?")
PAGE = 2  # the stand-in caps every page at this, whatever limit the page asks for


def paging_server(asked: list[dict[str, list[str]]]):
    def handle(route) -> None:
        url = urlsplit(route.request.url)
        params = parse_qs(url.query)
        asked.append(params)
        rows = route.fetch(url=f"{url.scheme}://{url.netloc}/api/status").json()  # the real rows
        if "state" in params:
            rows = [r for r in rows if r["state"] == params["state"][0]]
        rows.sort(key=lambda r: r["job"])
        start = int(params.get("cursor", ["0"])[0])
        headers = {}
        if start + PAGE < len(rows):
            following = {k: v[0] for k, v in params.items()} | {"cursor": str(start + PAGE)}
            headers["Link"] = f'</api/status?{urlencode(following)}>; rel="next"'
        route.fulfill(status=200, content_type="application/json", headers=headers,
                      body=json.dumps(rows[start:start + PAGE]))
    return handle


def shown(page) -> list[str]:
    return page.locator("#status tbody tr[data-job]").evaluate_all("rows => rows.map(r => r.dataset.job)")


def test_the_status_page_follows_the_servers_link_header_page_by_page(tab, demo):
    every = sorted(r["job"] for r in json.loads(demo.cli("status", "-o", "json").stdout))
    asked: list[dict[str, list[str]]] = []
    tab.context.route(STATUS_QUERY, paging_server(asked))
    page = tab.open("#/status")
    seen: list[str] = []
    for _ in range(len(every)):
        expect(page.locator("#status tbody tr[data-job]").first).to_be_visible()
        rows = shown(page)
        assert 0 < len(rows) <= PAGE
        seen += rows
        following = page.get_by_role("button", name="Next")
        if following.is_disabled():
            break
        count = len(asked)
        following.click()
        expect(page.locator("#status tbody tr[data-job]").first).not_to_have_attribute("data-job", rows[0])
        assert len(asked) > count and "cursor" in asked[-1]  # the next page came from the Link URL
    assert seen == every
    assert asked[0]["limit"] == ["50"]
    page.get_by_role("button", name="Previous").click()
    expect(page.locator("#status tbody tr[data-job]").first).to_have_attribute("data-job", seen[-len(rows) - PAGE])
    assert_clean(tab)


def test_filters_go_to_the_server_as_query_parameters(tab):
    asked: list[dict[str, list[str]]] = []
    tab.context.route(STATUS_QUERY, paging_server(asked))
    page = tab.open("#/status?state=failed&q=flaky&sort=last_run&tool=cron&paused=false")
    expect(page.locator("#status tbody tr[data-job]")).to_have_count(1)
    assert {k: v[0] for k, v in asked[-1].items()} == {  # the hash's search `q` is the API's `text`
        "state": "failed", "text": "flaky", "sort": "last_run", "tool": "cron", "paused": "false", "limit": "50"}
    assert shown(page) == ["cron://ops/flaky"]
    assert_clean(tab)


RUNS_QUERY = re.compile(r"/api/runs\?")


def test_a_job_page_pages_through_its_runs_by_the_servers_link_header(tab, demo):
    job = "cron://ops/heartbeat"
    for _ in range(3):
        demo.cli("trigger", job, "--wait")
    every = [r["run_id"] for r in json.loads(demo.cli("runs", "--job", job, "-o", "json").stdout)]
    assert len(every) >= 4
    asked: list[dict[str, list[str]]] = []

    def paging_runs(route) -> None:  # the real runs, newest first, PAGE at a time
        url = urlsplit(route.request.url)
        params = parse_qs(url.query)
        asked.append(params)
        rows = route.fetch(url=f"{url.scheme}://{url.netloc}/api/runs?{urlencode({'job': job, 'limit': 1000})}").json()
        start = int(params.get("cursor", ["0"])[0])
        headers = {}
        if start + PAGE < len(rows):
            headers["Link"] = f'</api/runs?{urlencode({"job": job, "cursor": start + PAGE})}>; rel="next"'
        route.fulfill(status=200, content_type="application/json", headers=headers,
                      body=json.dumps(rows[start:start + PAGE]))

    tab.context.route(RUNS_QUERY, paging_runs)
    page = tab.open(f"#/job/{job.replace(':', '%3A').replace('/', '%2F')}")
    runs = page.locator("#runs tbody tr")
    expect(runs).to_have_count(PAGE)
    while len(every) > runs.count():
        shown_before = runs.count()
        page.get_by_role("button", name="Older runs").click()
        expect(runs).to_have_count(min(shown_before + PAGE, len(every)))
    assert runs.evaluate_all("rows => rows.map(r => r.cells[0].textContent)") == every
    expect(page.get_by_role("button", name="Older runs")).to_have_count(0)
    assert asked[0]["job"] == [job] and all("cursor" in a for a in asked[1:])
    expect(page.locator("svg.trend circle")).to_have_count(len(every))  # one dot per finished run
    assert_clean(tab)


def expect_rows(page, expected: list[str]) -> None:
    """The table shows exactly ``expected``, in that order (waits for the page's reload)."""
    page.wait_for_function("""(want) => JSON.stringify([...document.querySelectorAll(
      "#status tbody tr[data-job]")].map((r) => r.dataset.job)) === JSON.stringify(want)""", arg=expected)


def test_every_sort_and_the_paused_filter_are_the_servers(tab, demo):
    """No stand-in: the real server sorts and filters, the page shows its rows as given."""
    page = tab.open("#/status")
    expect(page.locator("#filter-sort option")).to_have_count(6)  # the controls follow /api/instances
    sorts = page.locator("#filter-sort option").evaluate_all("options => options.map(o => o.value)")
    assert sorted(sorts) == ["instance", "job", "last_run", "name", "next_run", "state"]
    for sort in [*sorts[1:], sorts[0]]:  # the default (job) last: back from another order
        page.get_by_label("Sort").select_option(sort)
        expected = [r["job"] for r in json.loads(demo.cli("status", "--sort", sort, "-o", "json").stdout)]
        expect_rows(page, expected)
        assert ("sort=" in page.url) == (sort != "job")
    for choice, flag in (("true", "--paused"), ("false", "--active")):
        page.get_by_label("Paused").select_option(choice)
        expected = [r["job"] for r in json.loads(demo.cli("status", flag, "-o", "json").stdout)]
        expect_rows(page, expected)
        if not expected:
            expect(page.locator("#status tbody td.empty")).to_have_text("no job matches")
    assert_clean(tab)


def test_the_timeline_reads_every_page_of_the_days_runs(tab, demo):
    ran = {r["job"] for r in json.loads(demo.cli("runs", "--since", "24h", "-o", "json").stdout)}
    assert len(ran) > PAGE
    asked: list[dict[str, list[str]]] = []

    def paging_runs(route) -> None:  # the real runs of the window, PAGE at a time
        url = urlsplit(route.request.url)
        params = parse_qs(url.query)
        asked.append(params)
        rows = route.fetch(url=f"{url.scheme}://{url.netloc}/api/runs?since=24h&limit=1000").json()
        start = int(params.get("cursor", ["0"])[0])
        headers = {}
        if start + PAGE < len(rows):
            headers["Link"] = f'</api/runs?{urlencode({"since": "24h", "cursor": start + PAGE})}>; rel="next"'
        route.fulfill(status=200, content_type="application/json", headers=headers,
                      body=json.dumps(rows[start:start + PAGE]))

    tab.context.route(RUNS_QUERY, paging_runs)
    page = tab.open("#/timeline")
    labels = page.locator(".tl-label")
    expect(labels).to_have_count(len(ran))
    assert set(labels.all_inner_texts()) == ran
    assert len(asked) > 1 and all("cursor" in a for a in asked[1:])
    assert_clean(tab)
