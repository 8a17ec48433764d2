"""Fixtures for the tests against a real Airflow 3 (marked ``airflow``).

The server is started outside pytest, once for the whole run (it takes ~15 s)::

    bash tests/airflow/server.sh start && source .airflow-ci/env
    .venv/bin/python -m pytest -q tests/airflow
    bash tests/airflow/server.sh stop

Without ``UNIFIER_TEST_AIRFLOW_URL`` in the environment these tests skip, saying how
to start the server; under ``CI=true`` they fail instead, so CI can never pass by
skipping them.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

START_HINT = "start it with `bash tests/airflow/server.sh start && source .airflow-ci/env`"


@dataclass(frozen=True)
class AirflowServer:
    url: str
    user: str
    password: str
    webhook_url: str | None
    webhook_token: str | None


def _server_from_env() -> AirflowServer | None:
    url = os.environ.get("UNIFIER_TEST_AIRFLOW_URL")
    if not url:
        return None
    return AirflowServer(
        url=url,
        user=os.environ.get("UNIFIER_TEST_AIRFLOW_USER", "admin"),
        password=os.environ.get("UNIFIER_TEST_AIRFLOW_PASSWORD", "admin"),
        webhook_url=os.environ.get("UNIFIER_TEST_WEBHOOK_URL"),
        webhook_token=os.environ.get("UNIFIER_TEST_WEBHOOK_TOKEN"),
    )


@pytest.fixture(scope="session")
def airflow_server() -> AirflowServer:
    server = _server_from_env()
    if server is None:
        message = f"no Airflow server: UNIFIER_TEST_AIRFLOW_URL is not set ({START_HINT})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return server


@pytest.fixture(scope="session")
def airflow1_server(airflow_server: AirflowServer) -> AirflowServer:
    """The Airflow 2 (REST v1) that server.sh starts beside Airflow 3, same user."""
    url = os.environ.get("UNIFIER_TEST_AIRFLOW1_URL")
    if not url:
        message = ("no Airflow 2 server: UNIFIER_TEST_AIRFLOW1_URL is not set (server.sh starts one "
                   "unless AIRFLOW_V1=0)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return AirflowServer(url=url, user=airflow_server.user, password=airflow_server.password,
                         webhook_url=None, webhook_token=None)


@pytest.fixture(autouse=True)
def _airflow_marker_needs_server(request: pytest.FixtureRequest) -> None:
    """Every test marked ``airflow`` gets the skip-or-fail decision, even one that
    does not ask for ``airflow_server`` itself."""
    if request.node.get_closest_marker("airflow") is not None:
        request.getfixturevalue("airflow_server")


@pytest.fixture
def airflow_config(airflow_server: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An instance's `config` as a user writes it: the password as a secret reference."""
    monkeypatch.setenv("UNIFIER_TEST_AIRFLOW_PASSWORD", airflow_server.password)
    return {
        "url": airflow_server.url,
        "username": airflow_server.user,
        "password": "${env:UNIFIER_TEST_AIRFLOW_PASSWORD}",
        "timeout": 10,
        "watermark_overlap": 2,
    }


@pytest.fixture
async def make_adapter(airflow_config: dict[str, Any]) -> AsyncIterator[Callable[..., Any]]:
    """``make_adapter(**config_overrides)`` builds an AirflowAdapter the way unifier
    does (references resolved, settings validated); closed after the test."""
    from unifier import secrets
    from unifier.adapters.airflow.adapter import AirflowAdapter
    from unifier.adapters.airflow.settings import AirflowSettings

    made: list[Any] = []

    def make(name: str | None = None, **overrides: Any) -> AirflowAdapter:
        raw = {**airflow_config, **overrides}
        AirflowSettings.model_validate(raw)  # as written in a file: references required
        with secrets.resolved_context():
            settings = AirflowSettings.model_validate(secrets.resolve(raw))
        adapter = AirflowAdapter(name or f"af-{uuid.uuid4().hex[:8]}", settings)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        await adapter.close()


class RequestLog:
    """Every HTTP request an adapter's client put on the wire: (method, path)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.calls)

    def paths(self) -> list[str]:
        return [path for _, path in self.calls]


@pytest.fixture
def count_requests() -> Callable[[Any], contextlib.AbstractContextManager[RequestLog]]:
    """``with count_requests(adapter) as log:`` records the adapter's HTTP requests."""
    return _count_requests


@contextlib.contextmanager
def _count_requests(adapter: Any) -> Iterator[RequestLog]:
    """Wrap the urllib3 pool of the adapter's generated ApiClient: counts what reaches
    the network, independently of the adapter's own bookkeeping."""
    from urllib.parse import urlsplit

    pool = adapter.client.api.rest_client.pool_manager
    log = RequestLog()
    original = pool.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        log.calls.append((method, urlsplit(url).path))
        return original(method, url, *args, **kwargs)

    pool.request = request
    try:
        yield log
    finally:
        pool.request = original


class AirflowAPI:
    """Plain REST calls for test set-up and checks, independent of the adapter under test."""

    def __init__(self, server: AirflowServer):
        import httpx

        self.http = httpx.Client(base_url=server.url, timeout=30)
        token = self.http.post("/auth/token", json={"username": server.user,
                                                    "password": server.password}).json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        # The test server keeps Airflow's metadata in SQLite, which answers 500 "database
        # is locked" under bursts of writes: set-up and checks retry those, the adapter
        # under test does not get this help.
        for attempt in range(6):
            resp = self.http.request(method, f"/api/v2{path}", **kwargs)
            if resp.status_code not in (500, 503) or attempt == 5:
                break
            time.sleep(0.5 * (attempt + 1))
        resp.raise_for_status()
        return resp.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, json=body)

    def patch(self, path: str, body: dict[str, Any], **params: Any) -> Any:
        return self._call("PATCH", path, json=body, params=params)

    def runs_of(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]

    def queued_runs(self, count: int, prefix: str) -> list[str]:
        """``count`` runs on the paused page_dag_000..189: they change the runs table
        (what a sync must read) without executing anything. page_dag_19x stay run-free:
        the unpause test unpauses page_dag_199, which would run any backlog."""
        ids = []
        for i in range(count):
            run_id = f"{prefix}-{i:04d}"
            self.post(f"/dags/page_dag_{i % 190:03d}/dagRuns", {"dag_run_id": run_id, "logical_date": None})
            ids.append(run_id)
        return ids


@pytest.fixture(scope="session")
def airflow_api(airflow_server: AirflowServer) -> Iterator[AirflowAPI]:
    api = AirflowAPI(airflow_server)
    yield api
    api.http.close()
