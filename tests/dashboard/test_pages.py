"""The dashboard in a real browser (Debian's chromium through Playwright) against a real
``unifier serve`` over a catalog that the cron and Terraform adapters filled.

Each page is also kept as a screenshot under test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import quote

from playwright.sync_api import expect

from tests.dashboard.harness import Tab


def assert_clean(tab: Tab) -> None:
    """Nothing fetched from another origin, no script error."""
    assert tab.elsewhere == []
    assert tab.errors == []


def status_json(demo) -> dict[str, dict]:
    return {row["job"]: row for row in json.loads(demo.cli("status", "-o", "json").stdout)}


def row(page, job: str):
    return page.locator(f'#status tbody tr[data-job="{job}"]')


def test_the_status_page_lists_every_job_of_both_tools_with_its_state_in_words(tab, demo):
    expected = status_json(demo)
    assert {j.split(":")[0] for j in expected} == {"cron", "terraform"}
    page = tab.open("#/status")
    expect(page.locator("#status tbody tr[data-job]")).to_have_count(len(expected))
    for job, want in expected.items():
        cells = row(page, job).locator("td")
        expect(cells.nth(0)).to_contain_text(job)
        expect(cells.nth(1)).to_have_text(want["state"] or "never ran")  # a text label, not colour alone
        expect(cells.nth(5)).to_contain_text(want["instance"])
    expect(row(page, "cron://ops/flaky").locator(".state")).to_have_class(re.compile(r"\bs-failed\b"))
    # the link to the job in its own tool's UI, where the tool has one
    jobs = {j["uri"]: j for j in json.loads(demo.cli("jobs", "-o", "json").stdout)}
    for job, info in jobs.items():
        link = row(page, job).locator("td").nth(7).locator("a")
        if info["url"]:
            expect(link).to_have_attribute("href", info["url"])
        else:
            expect(link).to_have_count(0)
    tab.screenshot("status")
    assert_clean(tab)


def test_filtering_to_failed_runs_shows_only_the_failed_job_and_is_linkable(tab, demo):
    failed = [job for job, r in status_json(demo).items() if r["state"] == "failed"]
    assert failed == ["cron://ops/flaky"]
    page = tab.open("#/status")
    expect(page.locator("#status tbody tr[data-job]")).to_have_count(len(status_json(demo)))
    page.get_by_label("State").select_option("failed")
    expect(page.locator("#status tbody tr[data-job]")).to_have_count(1)
    expect(row(page, "cron://ops/flaky")).to_be_visible()
    assert "state=failed" in page.url
    tab.screenshot("status-failed")
    # the filtered URL opened afresh gives the same answer
    page.reload()
    expect(page.locator("#status tbody tr[data-job]")).to_have_count(1)
    expect(page.get_by_label("State")).to_have_value("failed")
    assert_clean(tab)


def test_search_matches_uri_and_name_and_sort_orders_rows(tab, demo):
    page = tab.open("#/status?q=report")
    expect(page.locator("#status tbody tr[data-job]")).to_have_count(1)
    expect(row(page, "cron://hosts/report")).to_be_visible()
    # newest last run first, jobs that never ran last, the terraform job filtered out
    cron = [r for r in status_json(demo).values() if r["kind"] == "cron"]
    ran = sorted((r for r in cron if r["last_run_at"]), key=lambda r: r["job"])
    ran.sort(key=lambda r: datetime.fromisoformat(r["last_run_at"]), reverse=True)
    expected = [r["job"] for r in ran] + sorted(r["job"] for r in cron if not r["last_run_at"])
    page.goto(f"{tab.base}/#/status?sort=last_run&tool=cron")
    jobs = page.locator("#status tbody tr[data-job]")
    expect(jobs).to_have_count(len(expected))
    assert jobs.evaluate_all("rows => rows.map(r => r.dataset.job)") == expected
    assert_clean(tab)


def test_a_run_page_shows_parameters_log_history_and_the_whole_why_chain_with_links(tab, demo):
    report = demo.last_run
    network = json.loads(demo.cli("runs", "--job", demo.chain.MIDDLE, "-o", "json").stdout)[0]
    extract = json.loads(demo.cli("runs", "--job", demo.chain.FIRST, "-o", "json").stdout)[0]
    page = tab.open("#/status")
    row(page, demo.chain.LAST).locator("td").nth(2).locator("a").click()  # its last run
    expect(page.locator("#view h2").first).to_contain_text(report["run_id"])
    why = page.locator("#why")
    for run in (report, network, extract):
        expect(why.get_by_role("link", name=f"{run['job']} run {run['run_id']}").first).to_be_visible()
    expect(why).to_contain_text("trigger report-after-network")
    expect(why).to_contain_text("trigger network-after-extract")
    expect(why.locator("p")).to_contain_text(f"Root cause: {extract['job']} run {extract['run_id']} (manual)")
    # its parameters came down the chain, and its log says so
    expect(page.locator("section", has_text="Parameters")).to_contain_text(network["run_id"])
    expect(page.locator("pre.log")).to_have_text(
        f"report: network applied by run {network['run_id']} (extract {extract['run_id']})")
    history = page.locator("section", has_text="State history").locator("tbody tr")
    expect(history.first).to_be_visible()
    expect(history.last).to_contain_text("succeeded")
    tab.screenshot("run")
    # following the chain: the upstream run's page
    why.get_by_role("link", name=f"{network['job']} run {network['run_id']}").click()
    expect(page.locator("#view h2").first).to_contain_text(network["run_id"])
    expect(page.locator("section", has_text="Parameters")).to_contain_text(extract["run_id"])
    assert_clean(tab)


def test_a_job_page_shows_runs_trend_forecast_and_both_directions_of_the_graph(tab, demo):
    page = tab.open("#/job/" + "terraform%3A%2F%2Finfra%2Fnetwork")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#runs tbody tr").first).to_contain_text("succeeded")
    deps = page.locator("section", has_text="Dependencies")
    expect(deps.get_by_role("link", name=demo.chain.FIRST)).to_be_visible()  # triggered by
    expect(deps.get_by_role("link", name=demo.chain.LAST)).to_be_visible()  # triggers
    expect(deps).to_contain_text("network-after-extract")
    tab.screenshot("job-terraform")
    page.goto(f"{tab.base}/#/job/cron%3A%2F%2Fops%2Fheartbeat")
    expect(page.locator("section", has_text="Schedule and forecast")).to_contain_text("* * * * *")
    expect(page.locator("section", has_text="Schedule and forecast").locator("tbody tr").first).to_contain_text("in ")
    expect(page.locator("#view h2").first).to_contain_text("cron://ops/heartbeat")
    tab.screenshot("job-cron")
    assert_clean(tab)


def test_the_timeline_shows_todays_runs_and_the_graph_links_to_each_job(tab, demo):
    page = tab.open("#/timeline")
    ran = {r["job"] for r in json.loads(demo.cli("runs", "--since", "24h", "-o", "json").stdout)}
    labels = page.locator(".tl-label")
    expect(labels).to_have_count(len(ran))
    assert set(labels.all_inner_texts()) == ran
    for job in (demo.chain.FIRST, demo.chain.MIDDLE, demo.chain.LAST):
        expect(page.locator(f'.graph a[href="#/job/{quote(job, safe="")}"]')).to_have_count(1)
    page.locator(f'.graph a[href="#/job/{quote(demo.chain.MIDDLE, safe="")}"]').click()
    expect(page.locator("#view h2").first).to_contain_text(demo.chain.MIDDLE)
    page.go_back()
    expect(page.locator(".tl-label")).to_have_count(len(ran))
    tab.screenshot("timeline")
    page.get_by_role("link", name="sign in").click()
    expect(page.get_by_label("API token")).to_be_visible()
    tab.screenshot("signin")
    assert_clean(tab)
