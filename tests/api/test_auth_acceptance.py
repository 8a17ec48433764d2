"""Issue 10's acceptance, as a new user would check it: a real ``unifier serve``
subprocess, the remote CLI (subprocesses whose own database URL points nowhere, so
they cannot have opened one), a real cron job, and the audit log checked at the end."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_helpers import run_cli, run_unifier

CRONTAB = """\
# unifier: name=hello
0 3 * * * echo hello from cron
"""

CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: hosts}
spec:
  adapter: cron
  config:
    crontabs: [./crontab]
    spool: ./spool
---
apiVersion: unifier/v1
kind: ApprovalPolicy
metadata: {name: hello-needs-bob}
spec:
  jobs: ["cron://hosts/*"]
  approvers: [token:bob]
  required: 1
  timeout: 1h
---
apiVersion: unifier/v1
kind: AccessPolicy
metadata: {name: olga-may-approve-too}
spec:
  subjects: [token:olga]
  role: approver
  scope: ["cron://hosts/*"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def setup(tmp_path, monkeypatch) -> dict[str, str]:
    """A catalog with the config applied and four tokens, made with the local CLI."""
    (tmp_path / "crontab").write_text(CRONTAB)
    (tmp_path / "unifier.yaml").write_text(CONFIG)
    db = tmp_path / "catalog.db"
    monkeypatch.setenv("UNIFIER_DATABASE_URL", f"sqlite:///{db}")
    assert run_cli("apply", "-f", str(tmp_path / "unifier.yaml")).exit_code == 0
    tokens = {}
    for name, role in (("vic", "viewer"), ("olga", "operator"), ("bob", "approver"), ("ada", "admin")):
        created = run_cli("token", "create", name, "--role", role, "-o", "json")
        assert created.exit_code == 0, created.stderr
        tokens[name] = json.loads(created.stdout)["token"]
    return {"db": str(db), **tokens}


class Served:
    """A ``unifier serve`` subprocess; its log is kept to check what it said."""

    def __init__(self, db: str, log: Path, *args: str, scheme: str = "http", env: dict[str, str] | None = None):
        port = free_port()
        self.log = log
        self.url = f"{scheme}://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "unifier", "serve", "--listen", f"127.0.0.1:{port}", *args],
            env={**os.environ, "UNIFIER_DATABASE_URL": f"sqlite:///{db}", **(env or {})},
            stdout=log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while "listening on" not in log.read_text():
            assert self.process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def server(setup, tmp_path) -> Iterator[str]:
    served = Served(setup["db"], tmp_path / "serve.log")
    assert httpx.get(f"{served.url}/healthz").json() == {"status": "ok"}
    yield served.url
    served.stop()


def remote(url: str, token: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI as a remote client: its own database URL points at nothing it could open."""
    env = {**os.environ, "UNIFIER_SERVER": url, "UNIFIER_TOKEN": token,
           "UNIFIER_DATABASE_URL": "sqlite:////nonexistent/never/opened.db"}
    return run_unifier(*args, env=env)


def test_the_acceptance_scenario(setup, server, tmp_path):
    vic, olga, bob, ada = setup["vic"], setup["olga"], setup["bob"], setup["ada"]

    refused = remote(server, vic, "trigger", "cron://hosts/hello")
    assert refused.returncode == 1
    assert "vic lacks permission 'trigger' on cron://hosts/hello" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert json.loads(remote(server, ada, "runs", "-o", "json").stdout) == []  # nothing ran

    waiting = remote(server, olga, "trigger", "cron://hosts/hello", "-p", "day=monday", "-o", "json")
    assert waiting.returncode == 0, waiting.stderr
    request = json.loads(waiting.stdout)
    assert request["state"] == "awaiting_approval" and request["requested_by"] == "olga"
    listed = json.loads(remote(server, vic, "approvals", "-o", "json").stdout)
    assert [(a["id"], a["job"], a["params"], a["state"]) for a in listed] == [
        (request["id"], "cron://hosts/hello", {"day": "monday"}, "awaiting_approval")]
    assert set(listed[0]) >= {"id", "job", "params", "requested_by", "requested_at", "expires_at", "state"}
    assert json.loads(remote(server, ada, "runs", "-o", "json").stdout) == []  # still nothing ran

    own = remote(server, olga, "approve", request["id"])  # olga holds approve here, but asked herself
    assert own.returncode == 1
    assert "cannot decide it" in own.stderr

    approved = remote(server, bob, "approve", request["id"], "--reason", "looks fine", "-o", "json")
    assert approved.returncode == 0, approved.stderr
    decision = json.loads(approved.stdout)
    assert decision["approval"]["state"] == "approved"
    assert len(decision["runs"]) == 1
    runs = json.loads(remote(server, ada, "runs", "-o", "json").stdout)
    assert [(r["job"], r["parameters"], r["cause"]["kind"], r["cause"]["actor"]) for r in runs] == [
        ("cron://hosts/hello", {"day": "monday"}, "manual", "olga")]
    again = remote(server, bob, "approve", request["id"])
    assert again.returncode == 2 and "approved: nothing to decide" in again.stderr
    assert len(json.loads(remote(server, ada, "runs", "-o", "json").stdout)) == 1  # exactly one run

    why = remote(server, vic, "why", runs[0]["run_id"])
    assert why.returncode == 0 and "approved by bob: looks fine" in why.stdout

    audit = json.loads(remote(server, ada, "audit", "-o", "json", "--limit", "100").stdout)
    seen = {(e["actor"], e["action"], e["outcome"]) for e in audit}
    assert {("vic", "trigger", "denied"), ("olga", "trigger", "ok"), ("olga", "approval.approve", "denied"),
            ("bob", "approval.approve", "ok")} <= seen
    assert all(e["source"] == "127.0.0.1" for e in audit if e["actor"] in ("vic", "olga", "bob"))
    assert set(audit[0]) == {"id", "at", "actor", "action", "target", "outcome", "source", "details"}

    assert remote(server, ada, "audit", "verify").returncode == 0
    forbidden = remote(server, vic, "audit", "verify")
    assert forbidden.returncode == 1 and "lacks permission 'admin'" in forbidden.stderr
    edited = next(e for e in audit if e["actor"] == "vic")
    with sqlite3.connect(setup["db"]) as db:
        db.execute("UPDATE audit SET outcome = 'ok' WHERE id = ?", (edited["id"],))
    broken = remote(server, ada, "audit", "verify")
    assert broken.returncode == 1
    assert f"entry {edited['id']} was altered" in broken.stderr

    # the secrets reached none of: the catalog file, the server's log, the audit
    stored = Path(setup["db"]).read_bytes() + (tmp_path / "serve.log").read_bytes()
    for secret in (vic, olga, bob, ada):
        assert secret.encode() not in stored
        assert secret not in json.dumps(audit)


def test_every_read_command_answers_remotely_as_locally(setup, server):
    for args in (("status",), ("jobs",), ("runs",), ("instances",), ("events",), ("graph", "-o", "json"),
                 ("next",), ("approvals",), ("impact", "cron://hosts/hello"), ("token", "list"),
                 ("triggers",), ("firings",), ("audit", "--limit", "5")):
        local = run_cli(*args, *(() if "-o" in args else ("-o", "json")))
        far = remote(server, setup["ada"], *args, *(() if "-o" in args else ("-o", "json")))
        assert far.returncode == local.exit_code == 0, (args, far.stderr, local.stderr)
        assert json.loads(far.stdout) == json.loads(local.stdout), args


def test_whoami_names_the_token_and_its_grants(setup, server):
    me = json.loads(remote(server, setup["olga"], "whoami", "-o", "json").stdout)
    assert me["name"] == "olga" and me["subjects"] == ["token:olga"]
    assert [(g["role"], g["scopes"]) for g in me["grants"]] == [("operator", ["*"]), ("approver", ["cron://hosts/*"])]


def test_a_bad_or_missing_token_exits_1_with_the_servers_reason(setup, server):
    for token, reason in (("unf_nope", "unknown token"), ("", "authentication required"),
                          ("two words", "malformed")):
        result = remote(server, token, "status")
        assert result.returncode == 1
        assert reason in result.stderr and "Traceback" not in result.stderr


def test_serve_on_a_public_address_without_authentication_refuses_to_start(tmp_path):
    env = {**os.environ, "UNIFIER_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = run_unifier("serve", "--listen", f"0.0.0.0:{free_port()}", env=env, timeout=60)
    assert result.returncode == 1
    assert "refusing to serve on 0.0.0.0 without authentication" in result.stderr
    assert "Traceback" not in result.stderr


def test_on_loopback_without_authentication_the_server_runs_open_and_says_so(tmp_path):
    served = Served(str(tmp_path / "open.db"), tmp_path / "open.log")
    try:
        assert "OPEN to anyone on this machine" in served.log.read_text()
        assert httpx.get(f"{served.url}/api/status").status_code == 200
    finally:
        served.stop()


def test_tls_with_tls_cert_and_tls_key(setup, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    served = Served(setup["db"], tmp_path / "tls.log", "--tls-cert", str(cert), "--tls-key", str(key),
                    scheme="https")
    try:
        assert "listening on https://" in served.log.read_text()
        env_ca = {"SSL_CERT_FILE": str(cert)}
        result = run_unifier("status", "-o", "json", env={
            **os.environ, **env_ca, "UNIFIER_SERVER": served.url, "UNIFIER_TOKEN": setup["vic"],
            "UNIFIER_DATABASE_URL": "sqlite:////nonexistent/never/opened.db"})
        assert result.returncode == 0, result.stderr
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served
            httpx.get(served.url.replace("https", "http") + "/healthz")
    finally:
        served.stop()


def test_configuration_commands_answer_remotely_as_locally(setup, server, tmp_path):
    config = str(tmp_path / "unifier.yaml")
    for args in (("apply", "-f", config, "--dry-run", "-o", "json"), ("plan", "-f", config, "-o", "json")):
        local, far = run_cli(*args), remote(server, setup["ada"], *args)
        assert far.returncode == local.exit_code == 0, (args, far.stderr)
        assert json.loads(far.stdout) == json.loads(local.stdout), args
    assert remote(server, setup["ada"], "validate", "-f", config).stdout == run_cli("validate", "-f", config).stdout
    (tmp_path / "bad.yaml").write_text("apiVersion: unifier/v1\nkind: Instance\nmetadata: {name: Bad_Name}\n")
    bad = remote(server, setup["ada"], "apply", "-f", str(tmp_path / "bad.yaml"))
    local_bad = run_cli("apply", "-f", str(tmp_path / "bad.yaml"))
    assert bad.returncode == local_bad.exit_code == 2
    assert bad.stderr == local_bad.stderr
    refused = remote(server, setup["olga"], "apply", "-f", config)
    assert refused.returncode == 1 and "lacks permission 'apply'" in refused.stderr
