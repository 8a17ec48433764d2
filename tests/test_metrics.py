"""``GET /metrics``: a FastAPI app with the metrics router and middleware over a real
catalog, scraped with the TestClient and read with prometheus-client's own parsers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, Gauge
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from unifier.api import create_app
from unifier.catalog import Catalog
from unifier.metrics import UnifierMetrics
from unifier.model import RunState
from unifier.testing import build_job, build_run

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def fill(catalog: Catalog) -> Catalog:
    catalog.put_instance("hosts", "cron", {"config": {}}, "h1", "unifier.yaml")
    catalog.put_instance("prod", "airflow", {"config": {}}, "h2", "unifier.yaml")
    catalog.upsert_jobs("hosts", [build_job("cron://hosts/backup")])
    catalog.upsert_jobs("prod", [build_job("airflow://prod/etl")])
    catalog.record_runs([
        build_run("cron://hosts/backup", "r1", RunState.SUCCEEDED),
        build_run("cron://hosts/backup", "r2", RunState.SUCCEEDED),
        build_run("cron://hosts/backup", "r3", RunState.FAILED),
        build_run("airflow://prod/etl", "manual__1", RunState.RUNNING),
    ])
    return catalog


@pytest.fixture
def filled(tmp_path) -> Iterator[Catalog]:
    """A filled SQLite catalog (the run-count tests also run on PostgreSQL, through ``catalog``)."""
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield fill(catalog)
    catalog.close()


def small_app(metrics: UnifierMetrics) -> FastAPI:
    app = FastAPI()

    @app.get("/runs/{job}")
    def run(job: str) -> dict[str, str]:
        if job == "missing":
            raise HTTPException(404, "no such job")
        return {"job": job}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    metrics.install(app)
    return app


@pytest.fixture
def waiting() -> list[int]:
    return [3]


@pytest.fixture
def metrics(filled: Catalog, waiting: list[int]) -> UnifierMetrics:
    return UnifierMetrics(lambda: filled, approvals_waiting=lambda: waiting[0])


@pytest.fixture
def client(metrics: UnifierMetrics) -> TestClient:
    return TestClient(small_app(metrics), raise_server_exceptions=False)


def test_runs_by_adapter_instance_and_state_are_read_from_the_catalog_at_scrape_time(catalog):
    filled = fill(catalog)
    client = TestClient(small_app(UnifierMetrics(lambda: filled)))
    samples = scrape(client)
    assert value(samples, "unifier_runs", adapter="cron", instance="hosts", state="succeeded") == 2
    assert value(samples, "unifier_runs", adapter="cron", instance="hosts", state="failed") == 1
    assert value(samples, "unifier_runs", adapter="airflow", instance="prod", state="running") == 1
    # every state is exported, 0 where there is none, so an alert on `failed` sees it appear
    assert value(samples, "unifier_runs", adapter="airflow", instance="prod", state="failed") == 0
    assert value(samples, "unifier_scrape_source_up", source="catalog") == 1

    filled.record_runs([build_run("airflow://prod/etl", "manual__1", RunState.FAILED),
                        build_run("airflow://prod/etl", "manual__2", RunState.QUEUED)])
    samples = scrape(client)
    assert value(samples, "unifier_runs", adapter="airflow", instance="prod", state="running") == 0
    assert value(samples, "unifier_runs", adapter="airflow", instance="prod", state="failed") == 1
    assert value(samples, "unifier_runs", adapter="airflow", instance="prod", state="queued") == 1


def test_runs_of_a_deleted_instance_are_still_counted(catalog):
    filled = fill(catalog)
    client = TestClient(small_app(UnifierMetrics(lambda: filled)))
    filled.delete_instance("prod")
    samples = scrape(client)
    assert value(samples, "unifier_runs", adapter="unknown", instance="prod", state="running") == 1


def test_sync_duration_and_errors_per_instance(client, metrics):
    metrics.observe_sync("prod", 0.2)
    metrics.observe_sync("prod", 3.0, error=True)
    metrics.observe_sync("hosts", 0.01)
    samples = scrape(client)
    assert value(samples, "unifier_sync_duration_seconds_count", instance="prod") == 2
    assert value(samples, "unifier_sync_duration_seconds_sum", instance="prod") == pytest.approx(3.2)
    assert value(samples, "unifier_sync_duration_seconds_bucket", instance="prod", le="0.25") == 1
    assert value(samples, "unifier_sync_duration_seconds_bucket", instance="prod", le="+Inf") == 2
    assert value(samples, "unifier_sync_errors_total", instance="prod") == 1
    assert value(samples, "unifier_sync_errors_total", instance="hosts") == 0


def test_firings_by_outcome(client, metrics):
    assert value(scrape(client), "unifier_firings_total", outcome="issued") == 0  # there before the first
    for outcome in ("issued", "issued", "failed", "awaiting_approval", "made-up"):
        metrics.record_firing(outcome)
    samples = scrape(client)
    assert value(samples, "unifier_firings_total", outcome="issued") == 2
    assert value(samples, "unifier_firings_total", outcome="failed") == 1
    assert value(samples, "unifier_firings_total", outcome="awaiting_approval") == 1
    assert value(samples, "unifier_firings_total", outcome="other") == 1
    assert value(samples, "unifier_firings_total", outcome="made-up") is None


def test_approval_requests_waiting_come_from_the_callable_at_scrape_time(client, waiting):
    assert value(scrape(client), "unifier_approval_requests_waiting") == 3
    waiting[0] = 0
    assert value(scrape(client), "unifier_approval_requests_waiting") == 0


def test_a_failing_source_is_reported_down_and_the_scrape_still_answers(tmp_path):
    def broken() -> int:
        raise ConnectionError("approvals store unreachable")

    # a catalog whose database file cannot be opened: every query fails inside SQLAlchemy
    unreachable = Catalog(create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'catalog.db'}"))
    client = TestClient(small_app(UnifierMetrics(lambda: unreachable, approvals_waiting=broken)))
    samples = scrape(client)
    assert value(samples, "unifier_scrape_source_up", source="catalog") == 0
    assert value(samples, "unifier_scrape_source_up", source="approvals") == 0
    assert not any(name == "unifier_runs" for name, _ in samples)
    assert value(samples, "unifier_approval_requests_waiting") is None


def test_requests_are_counted_by_route_template_not_raw_path(client):
    for path in ("/runs/a", "/runs/b", "/runs/c", "/runs/missing", "/no/such/route", "/boom"):
        client.get(path)
    client.post("/runs/a")
    client.request("BREW", "/runs/a")
    samples = scrape(client)
    requests = {labels: count for (name, labels), count in samples.items() if name == "unifier_http_requests_total"}
    assert value(samples, "unifier_http_requests_total", method="GET", route="/runs/{job}", status="200") == 3
    assert value(samples, "unifier_http_requests_total", method="GET", route="/runs/{job}", status="404") == 1
    assert value(samples, "unifier_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert value(samples, "unifier_http_requests_total", method="GET", route="/boom", status="500") == 1
    assert value(samples, "unifier_http_requests_total", method="POST", route="/runs/{job}", status="405") == 1
    assert value(samples, "unifier_http_requests_total", method="OTHER", route="/runs/{job}", status="405") == 1
    assert not any(dict(labels)["route"].startswith("/runs/") and dict(labels)["route"] != "/runs/{job}"
                   for labels in requests)


def test_two_apps_in_one_process_do_not_share_metrics(filled):
    first, second = UnifierMetrics(lambda: filled), UnifierMetrics(lambda: filled)
    first_client, second_client = TestClient(small_app(first)), TestClient(small_app(second))
    first.record_firing("issued")
    first_client.get("/runs/a")
    assert value(scrape(first_client), "unifier_firings_total", outcome="issued") == 1
    samples = scrape(second_client)
    assert value(samples, "unifier_firings_total", outcome="issued") == 0
    assert value(samples, "unifier_http_requests_total", method="GET", route="/runs/{job}", status="200") is None
    assert not any(metric.name.startswith("unifier_") for metric in REGISTRY.collect())


def test_the_catalog_is_read_off_the_event_loop(filled):
    called_on_loop: list[bool] = []

    def factory() -> Catalog:
        try:
            asyncio.get_running_loop()
            called_on_loop.append(True)
        except RuntimeError:
            called_on_loop.append(False)
        return filled

    scrape(TestClient(small_app(UnifierMetrics(factory))))
    assert called_on_loop == [False]


def test_openmetrics_is_served_to_a_scraper_that_asks(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    families = {family.name: family for family in parse_openmetrics(response.text)}
    assert families["unifier_runs"].type == "gauge"
    assert families["unifier_firings"].type == "counter"


def test_the_unifier_api_is_labelled_by_its_route_templates(filled):
    app = create_app(lambda: filled)
    UnifierMetrics(lambda: filled).install(app)
    client = TestClient(app)
    assert client.get("/api/jobs/cron://hosts/backup").status_code == 200
    assert client.get("/api/jobs/cron://hosts/absent").status_code == 404
    assert client.get("/api/runs/cron://hosts/backup/r1").status_code == 200
    samples = scrape(client)
    assert value(samples, "unifier_http_requests_total", method="GET", route="/api/jobs/{uri:path}", status="200") == 1
    assert value(samples, "unifier_http_requests_total", method="GET", route="/api/jobs/{uri:path}", status="404") == 1
    assert value(samples, "unifier_http_requests_total",
                 method="GET", route="/api/runs/{job:path}/{run_id}", status="200") == 1
    assert "/metrics" in app.openapi()["paths"]


def test_the_metrics_route_takes_guards(filled):
    def deny() -> None:
        raise HTTPException(401, "authentication required")

    app = FastAPI()
    UnifierMetrics(lambda: filled).install(app, dependencies=[Depends(deny)])
    assert TestClient(app).get("/metrics").status_code == 401


def test_a_clashing_metric_name_is_refused_at_registration_without_a_query():
    def no_query() -> Catalog:
        raise AssertionError("registration must not query the catalog")

    metrics = UnifierMetrics(no_query, approvals_waiting=lambda: 0)
    for name in ("unifier_runs", "unifier_approval_requests_waiting", "unifier_scrape_source_up"):
        with pytest.raises(ValueError, match="Duplicated timeseries"):
            Gauge(name, "clash", registry=metrics.registry)
