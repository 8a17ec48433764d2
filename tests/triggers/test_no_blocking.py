"""The webhook and the status view of a running ``unifier run --listen`` keep answering
while another process holds SQLite's write lock (an ``unifier apply``, a second CLI):
the control loop's writes wait in their worker threads, never on the event loop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from tests.cli_helpers import run_cli
from unifier.catalog import Catalog

CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: hosts}
spec:
  adapter: cron
  poll_interval: 0
  webhook_secret: ${env:HOOK_SECRET}
  config: {crontabs: [./crontab], spool: ./spool}
"""

LOCK_SECONDS = 5.0
BOUND = 1.5  # generous for a loaded 2-core machine, far below the lock time

HOLD_LOCK = """\
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
print("released", flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_and_status_answer_while_another_process_holds_the_write_lock(
        tmp_path, unifier_home, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret-token")
    (tmp_path / "crontab").write_text("# unifier: name=extract\n0 3 * * * echo extracted\n")
    (tmp_path / "unifier.yaml").write_text(CONFIG)
    assert run_cli("apply", "-f", str(tmp_path / "unifier.yaml")).exit_code == 0
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "UNIFIER_HOME": unifier_home}
    loop = subprocess.Popen([sys.executable, "-m", "unifier", "run", "--interval", "0.1",
                             "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    catalog = Catalog.open()
    holder = None
    try:
        deadline = time.monotonic() + 60
        while catalog.get_sync_state("hosts").last_sync_at is None:  # the loop is syncing
            assert loop.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        client = httpx.Client(base_url=base, timeout=LOCK_SECONDS * 2)
        assert client.get("/api/status").status_code == 200

        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(catalog.engine.url.database),
                                   str(LOCK_SECONDS)], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        synced_before = catalog.get_sync_state("hosts").last_sync_at  # readers do not wait in WAL
        timings: list[tuple[str, int, float]] = []
        while time.monotonic() - locked_at < LOCK_SECONDS - 1.5:
            for method, path in (("POST", "/hooks/hosts"), ("GET", "/api/status")):
                began = time.monotonic()
                response = client.request(method, path, headers={"Authorization": "Bearer s3cret-token"})
                timings.append((f"{method} {path}", response.status_code, time.monotonic() - began))
            time.sleep(0.05)
        slowest = max(timings, key=lambda t: t[2])
        assert slowest[2] < BOUND, f"{slowest[0]} took {slowest[2]:.2f}s while the catalog was locked"
        assert len(timings) >= 6
        assert {code for _, code, _ in timings} == {200, 202}
        # the lock was really held all along: the loop could not record a sync meanwhile
        assert holder.poll() is None
        assert catalog.get_sync_state("hosts").last_sync_at == synced_before
        assert holder.stdout.readline().strip() == "released"
        holder.wait(timeout=10)

        deadline = time.monotonic() + 30  # and the loop catches up once the lock is gone
        while catalog.get_sync_state("hosts").last_sync_at == synced_before:
            assert time.monotonic() < deadline, "the loop did not resume after the lock"
            time.sleep(0.1)
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
        catalog.close()
        loop.terminate()
        _, stderr = loop.communicate(timeout=30)
    assert loop.returncode == 0, stderr
