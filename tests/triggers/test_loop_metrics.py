"""The control loop records into the process's metrics (``GET /metrics``): each sync
cycle of an instance, and what each firing came to."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

# the same module object pytest collected (rootdir-less "prepend" import): one FlakyAdapter class
from test_ledger import ANY, FlakyAdapter, configure, finished, tools  # noqa: F401

from unifier.api import create_app
from unifier.auth.tokens import TokenStore
from unifier.catalog.tables import FiringRow
from unifier.metrics import UnifierMetrics
from unifier.reconciler import Reconciler
from unifier.triggers.store import list_firings


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def run_cycles(loop: Reconciler, n: int = 3) -> None:
    for _ in range(n):
        await loop.cycle()
        await asyncio.sleep(0.03)


async def test_the_loop_records_syncs_and_firing_outcomes_served_at_metrics(catalog, tmp_path):
    configure(catalog, tmp_path, ANY)
    metrics = UnifierMetrics(lambda: catalog)
    loop = Reconciler(catalog, interval=0, metrics=metrics)
    await finished(catalog, "fake://up/a")
    FlakyAdapter.down.add("down")
    await run_cycles(loop)
    assert list_firings(catalog, "c-after-a")[0].status == "pending"
    FlakyAdapter.down.clear()
    with catalog.session() as s:  # due again now, not after the backoff
        s.execute(update(FiringRow).values(next_attempt_at=FiringRow.created_at).where(FiringRow.status == "pending"))
    await run_cycles(loop)
    assert list_firings(catalog, "c-after-a")[0].status == "issued"

    app = create_app(lambda: catalog, metrics=metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        found = samples((await client.get("/metrics")).text)
    assert found[("unifier_firings_total", (("outcome", "issued"),))] == 1
    assert found[("unifier_firings_total", (("outcome", "retrying"),))] >= 1
    assert found[("unifier_sync_duration_seconds_count", (("instance", "up"),))] >= 3
    assert found[("unifier_sync_errors_total", (("instance", "up"),))] == 0


async def test_metrics_need_a_reading_principal_once_authentication_is_configured(catalog):
    store = TokenStore(catalog)
    _, viewer = store.create("grafana", "viewer", None, None, "test")
    _, agent = store.create("plant-agent", "agent", ["zone:plant"], None, "test")
    app = create_app(lambda: catalog, allow_open=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {agent}"})).status_code == 403
        scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {viewer}"})
    assert scraped.status_code == 200
    found = samples(scraped.text)
    assert found[("unifier_approval_requests_waiting", ())] == 0
    assert ("unifier_http_requests_total", (("method", "GET"), ("route", "/metrics"), ("status", "401"))) in found
