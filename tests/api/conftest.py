"""A real SQLite catalog filled through the catalog's own API, and the app around it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from unifier.api import create_app
from unifier.apply import apply
from unifier.catalog import Catalog
from unifier.config import load_files
from unifier.model import RunState
from unifier.testing import build_job, build_run

TRIGGERS = """\
apiVersion: unifier/v1
kind: Trigger
metadata: {name: load-after-extract}
spec:
  when:
    any: [{job: cron://hosts/extract}]
  then:
    - job: airflow://prod/load
---
apiVersion: unifier/v1
kind: Trigger
metadata: {name: report-after-load}
spec:
  when:
    any: [{job: airflow://prod/load}]
  then:
    - job: jenkins://ci/report
"""


@pytest.fixture
def catalog_path(tmp_path, monkeypatch) -> str:
    """The catalog's URL, also the CLI's (to compare the API with ``-o json``)."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    monkeypatch.setenv("UNIFIER_DATABASE_URL", url)
    return url


@pytest.fixture
def catalog(catalog_path, tmp_path) -> Iterator[Catalog]:
    catalog = Catalog.open(catalog_path)
    catalog.put_instance("hosts", "cron", {"config": {}}, "h1", "unifier.yaml")
    catalog.put_instance("prod", "airflow", {"config": {}}, "h2", "unifier.yaml")
    catalog.update_sync_state("prod", last_error="ToolUnavailable: connection refused")
    catalog.upsert_jobs("hosts", [build_job("cron://hosts/extract"), build_job("cron://hosts/idle")])
    catalog.upsert_jobs("prod", [build_job("airflow://prod/load", owner="data", tags=["etl"])])
    catalog.record_runs([
        build_run("cron://hosts/extract", "r1", RunState.SUCCEEDED),
        build_run("airflow://prod/load", "scheduled__2026-11-24T00:00:00+00:00", RunState.FAILED),
        build_run("airflow://prod/load", "manual__2", RunState.RUNNING),
    ])
    (tmp_path / "triggers.yaml").write_text(TRIGGERS)
    apply(catalog, load_files([tmp_path / "triggers.yaml"]))
    yield catalog
    catalog.close()


@pytest.fixture
def app(catalog):
    return create_app(lambda: catalog)


@pytest.fixture
async def client(app) -> Iterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
def server(app) -> Iterator[str]:
    """The app behind a real uvicorn on a free port (streams need a real connection:
    in-process transports wait for the whole body)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(running.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)
    sock.close()
