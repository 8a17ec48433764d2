"""``POST /hooks/{instance}``: authenticated by the instance's secret; wakes the loop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.cli_helpers import run_cli
from unifier.api import create_app
from unifier.apply import apply
from unifier.catalog import Catalog
from unifier.config import load_files
from unifier.triggers.store import list_firings

INSTANCES = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: hosts}
spec:
  adapter: cron
  poll_interval: 3600
  webhook_secret: ${env:HOOK_SECRET}
  config: {crontabs: [./crontab], spool: ./spool}
---
apiVersion: unifier/v1
kind: Instance
metadata: {name: quiet}
spec:
  adapter: cron
  config: {crontabs: [./crontab], spool: ./spool2}
"""

CRONTAB = "# unifier: name=extract\n0 3 * * * echo extracted\n# unifier: name=load\n0 4 * * * echo loaded\n"


@pytest.fixture
def configured(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret-token")
    (tmp_path / "crontab").write_text(CRONTAB)
    (tmp_path / "unifier.yaml").write_text(INSTANCES)
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    apply(catalog, load_files([tmp_path / "unifier.yaml"]))
    yield catalog
    catalog.close()


@pytest.fixture
async def client(configured):
    woken: list[str] = []
    app = create_app(lambda: configured, wake=woken.append)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        c.woken = woken  # type: ignore[attr-defined]
        yield c


AIRFLOW_EVENT = {"event": "dag_run_success", "dag_id": "etl", "run_id": "manual__1", "state": "success"}


async def test_the_right_token_is_accepted_and_wakes_the_loop_for_that_instance(client):
    response = await client.post("/hooks/hosts", json=AIRFLOW_EVENT,
                                 headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 202
    assert client.woken == ["hosts"]


async def test_any_body_is_accepted(client):
    response = await client.post("/hooks/hosts", content=b"not json at all",
                                 headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 202


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic s3cret-token", "s3cret-token"])
async def test_a_missing_or_wrong_token_is_401_and_wakes_nothing(client, header):
    headers = {"Authorization": header} if header else {}
    response = await client.post("/hooks/hosts", json=AIRFLOW_EVENT, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "s3cret" not in response.text
    assert client.woken == []


async def test_an_unknown_instance_is_404(client):
    response = await client.post("/hooks/nope", headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 404
    assert client.woken == []


async def test_an_instance_without_webhook_secret_is_403(client):
    response = await client.post("/hooks/quiet", headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 403
    assert "webhook_secret" in response.json()["detail"]
    assert client.woken == []


async def test_the_secret_is_read_at_each_request(client, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "rotated")
    old = await client.post("/hooks/hosts", headers={"Authorization": "Bearer s3cret-token"})
    new = await client.post("/hooks/hosts", headers={"Authorization": "Bearer rotated"})
    assert (old.status_code, new.status_code) == (401, 202)
    monkeypatch.delenv("HOOK_SECRET")
    gone = await client.post("/hooks/hosts", headers={"Authorization": "Bearer rotated"})
    assert gone.status_code == 403


TRIGGER = """\
apiVersion: unifier/v1
kind: Trigger
metadata: {name: load-after-extract}
spec:
  when:
    any: [{job: cron://hosts/extract}]
  then:
    - job: cron://hosts/load
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_push_makes_unifier_run_sync_at_once_and_fire(tmp_path, unifier_home, monkeypatch):
    """The instance polls hourly; a run cron started on its own is seen, and fires its
    trigger, only because the webhook was called."""
    monkeypatch.setenv("HOOK_SECRET", "s3cret-token")
    (tmp_path / "crontab").write_text(CRONTAB)
    (tmp_path / "unifier.yaml").write_text(INSTANCES + "---\n" + TRIGGER)
    assert run_cli("apply", "-f", str(tmp_path / "unifier.yaml")).exit_code == 0
    port = free_port()
    env = {**os.environ, "UNIFIER_HOME": unifier_home}
    proc = subprocess.Popen([sys.executable, "-m", "unifier", "run", "--interval", "30",
                             "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    catalog = Catalog.open()
    try:
        deadline = time.monotonic() + 30
        while catalog.get_sync_state("hosts").last_sync_at is None:  # the first sync at start
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        # cron runs the wrapped line on its schedule: unifier did not start this run
        subprocess.run([sys.executable, "-m", "unifier.adapters.cron.wrapper", "--job",
                        "cron://hosts/extract", "--spool", str(tmp_path / "spool"), "--",
                        "echo extracted"], check=True, capture_output=True, env=env)
        time.sleep(1.0)
        assert list_firings(catalog) == []  # polling alone would wait an hour
        while True:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/hooks/hosts", json=AIRFLOW_EVENT,
                                      headers={"Authorization": "Bearer s3cret-token"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 202
        pushed = time.monotonic()
        while not [f for f in list_firings(catalog) if f.status == "issued"]:
            assert time.monotonic() - pushed < 10, "the webhook did not wake the loop"
            time.sleep(0.05)
        [firing] = list_firings(catalog)
        assert firing.upstream_runs[0].job == "cron://hosts/extract"
        journal = (tmp_path / "spool" / "journal.jsonl").read_text().splitlines()
        starts = [json.loads(line) for line in journal if '"start"' in line]
        assert [s["job"] for s in starts] == ["cron://hosts/extract", "cron://hosts/load"]
    finally:
        catalog.close()
        proc.terminate()
        proc.communicate(timeout=15)
    assert proc.returncode == 0
