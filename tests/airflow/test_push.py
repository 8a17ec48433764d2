"""The listener plugin (adapters/airflow/listener.py): Airflow pushes run changes to unifier.

The plugin file is loaded by the real Airflow of server.sh from its plugins folder, with
UNIFIER_WEBHOOK_URL pointing at a port the tests serve (UNIFIER_TEST_WEBHOOK_URL).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from tests.cli_helpers import run_cli
from unifier.adapters.airflow import listener
from unifier.catalog import Catalog
from unifier.errors import NotFound
from unifier.model import RunState
from unifier.testing.conformance import wait_terminal


class Receiver:
    """A tiny HTTP server recording every POST: (arrival time, path, headers, JSON body)."""

    def __init__(self, port: int = 0):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((time.time(), self.path, dict(self.headers), json.loads(body or b"null")))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# -- the plugin module on its own (no Airflow needed) ------------------------------------


def test_post_sends_the_event_with_the_bearer_token(receiver):
    run = SimpleNamespace(dag_id="etl", run_id="scheduled__1", state=SimpleNamespace(value="success"))
    body = listener.payload("dag_run_success", run)
    assert listener.post(body, url=f"http://127.0.0.1:{receiver.port}/hooks/prod", token="s3cret")
    [(_, path, headers, sent)] = receiver.received
    assert path == "/hooks/prod"
    assert headers["Authorization"] == "Bearer s3cret"
    assert sent == {"event": "dag_run_success", "dag_id": "etl", "run_id": "scheduled__1", "state": "success"}


def test_an_unreachable_unifier_never_raises():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    assert listener.post({"event": "x"}, url=f"http://127.0.0.1:{port}/hooks/a", token="t") is False
    assert time.monotonic() - started < listener.TIMEOUT_SECONDS + 1


def test_the_hooks_do_nothing_without_a_url(monkeypatch, receiver):
    monkeypatch.delenv("UNIFIER_WEBHOOK_URL", raising=False)
    listener.on_dag_run_success(SimpleNamespace(dag_id="a", run_id="b", state="success"), "msg")
    time.sleep(0.2)
    assert receiver.received == []


# -- inside the real Airflow ---------------------------------------------------------------


@pytest.fixture
def hook_port(airflow_server) -> int:
    if not airflow_server.webhook_url:
        pytest.fail("UNIFIER_TEST_WEBHOOK_URL missing from .airflow-ci/env: restart server.sh")
    return urlsplit(airflow_server.webhook_url).port


@pytest.mark.airflow
async def test_airflow_posts_within_a_second_of_the_run_ending(make_adapter, airflow_server, hook_port):
    receiver = Receiver(hook_port)
    try:
        adapter = make_adapter()
        run = await adapter.trigger("unifier_succeeds", {"greeting": "push"}, f"push-{uuid.uuid4().hex}")
        final = await wait_terminal(adapter, "unifier_succeeds", run.run_id, 90)
        deadline = time.monotonic() + 10
        while not [r for r in receiver.received if r[3].get("event") == "dag_run_success"
                   and r[3].get("run_id") == run.run_id]:
            assert time.monotonic() < deadline, f"no push for {run.run_id}: {receiver.received}"
            await asyncio.sleep(0.05)
    finally:
        receiver.close()
    mine = [r for r in receiver.received if r[3].get("run_id") == run.run_id]
    events = [r[3]["event"] for r in mine]
    assert events == ["dag_run_running", "dag_run_success"], events
    arrived, path, headers, body = mine[-1]
    assert body == {"event": "dag_run_success", "dag_id": "unifier_succeeds", "run_id": run.run_id,
                    "state": "success"}
    assert path == urlsplit(airflow_server.webhook_url).path
    assert headers["Authorization"] == f"Bearer {airflow_server.webhook_token}"
    assert arrived - final.ended_at.timestamp() < 1.0


@pytest.mark.airflow
async def test_the_push_makes_a_run_visible_without_waiting_for_the_poll(
        airflow_server, hook_port, make_adapter, tmp_path, monkeypatch):
    """unifier's own webhook endpoint and control loop: the instance polls once an hour,
    so only the listener's push can bring the finished run into the catalog."""
    from unifier.api import create_app
    from unifier.api.server import ApiServer
    from unifier.reconciler import Reconciler

    instance = urlsplit(airflow_server.webhook_url).path.rsplit("/", 1)[-1]
    monkeypatch.setenv("UNIFIER_TEST_AIRFLOW_PASSWORD", airflow_server.password)
    monkeypatch.setenv("UNIFIER_TEST_WEBHOOK_TOKEN", airflow_server.webhook_token)
    config = tmp_path / "airflow.yaml"
    config.write_text(f"""\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: {instance}}}
spec:
  adapter: airflow
  poll_interval: 1h
  webhook_secret: ${{env:UNIFIER_TEST_WEBHOOK_TOKEN}}
  config:
    url: {airflow_server.url}
    username: {airflow_server.user}
    password: ${{env:UNIFIER_TEST_AIRFLOW_PASSWORD}}
""")
    applied = run_cli("apply", "-f", str(config))
    assert applied.exit_code == 0, applied.stdout + applied.stderr

    catalog = Catalog.open()
    reconciler = Reconciler(catalog, interval=0.2)
    server = ApiServer(create_app(lambda: catalog, wake=reconciler.wake), f"127.0.0.1:{hook_port}")
    await server.start()
    loop = asyncio.create_task(reconciler.run())
    try:
        deadline = time.monotonic() + 60
        while catalog.get_sync_state(instance).last_sync_at is None:  # the first, scheduled sync
            if loop.done():
                loop.result()  # the control loop died: show why
            assert time.monotonic() < deadline, "the control loop never synced the instance"
            await asyncio.sleep(0.1)
        assert catalog.get_sync_state(instance).last_error is None
        adapter = make_adapter()
        run = await adapter.trigger("unifier_succeeds", {"greeting": "e2e"}, f"e2e-{uuid.uuid4().hex}")
        final = await wait_terminal(adapter, "unifier_succeeds", run.run_id, 90)
        deadline = time.monotonic() + 20  # far below the hour the poll would take
        while True:
            try:
                stored = catalog.get_run(f"airflow://{instance}/unifier_succeeds", run.run_id)
                if stored.state == RunState.SUCCEEDED:
                    break
            except NotFound:  # not synced yet
                pass
            if loop.done():
                loop.result()
            assert time.monotonic() < deadline, "the finished run never reached the catalog"
            await asyncio.sleep(0.1)
        assert stored.ended_at == final.ended_at
    finally:
        reconciler.stop()
        await loop
        await server.stop()
        catalog.close()

