"""MCP on unifier's own server, governed: the bearer token's principal is the agent
(its name, its scope), and every write tool is an approval request in the ledger that
a person decides; the agent can never approve, and an approved run is started once by
the ordinary firing path."""

from __future__ import annotations

import json
import threading

import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.mcp.client import call, call_error
from tests.mcp.conftest import free_port, wait_listening
from unifier.api import create_app
from unifier.apply import apply
from unifier.auth import Grant, Principal, Role
from unifier.auth.tokens import TokenStore
from unifier.config import load_files
from unifier.errors import Forbidden
from unifier.service import Service
from unifier.sync import sync_instance
from unifier.triggers.store import get_trigger

CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: {team}}}
spec: {{adapter: cron, config: {{crontabs: [./crontab-{team}]}}}}
"""
TRIGGER = """\
apiVersion: unifier/v1
kind: Trigger
metadata: {name: load-after-extract}
spec:
  when: {all: [{job: cron://team-a/extract}]}
  then: [{job: cron://team-a/load}]
"""
EXTRACT, LOAD, BILLING = "cron://team-a/extract", "cron://team-a/load", "cron://team-b/billing"


@pytest.fixture
def configured(catalog, tmp_path):
    (tmp_path / "crontab-team-a").write_text("# unifier: name=extract\n0 2 * * * echo rows=42\n"
                                             "# unifier: name=load\n30 2 * * * echo loaded\n")
    (tmp_path / "crontab-team-b").write_text("# unifier: name=billing\n0 3 * * * echo billed\n")
    (tmp_path / "unifier.yaml").write_text("---\n".join([CONFIG.format(team="team-a"), CONFIG.format(team="team-b"),
                                                         TRIGGER]))
    apply(catalog, load_files([tmp_path / "unifier.yaml"]))
    import asyncio

    for team in ("team-a", "team-b"):
        assert asyncio.run(sync_instance(catalog, team, discover=True)).ok
    return catalog


@pytest.fixture
def secrets(configured):
    store = TokenStore(configured)
    return {"claude": store.create("claude", "operator", ["cron://team-a/*"], None, "test")[1],
            "bob": store.create("bob", "approver", None, None, "test")[1]}


@pytest.fixture
def served(configured, secrets):
    port = free_port()
    app = create_app(lambda: configured, allow_open=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_listening(port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def mcp_as(url: str, secret: str):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {secret}"})
    return http, Client(streamable_http_client(url, http_client=http))


BOB = Principal("bob", ("token:bob",), (Grant(Role.APPROVER),))


async def test_an_agent_requests_a_run_a_person_approves_it_and_it_runs_once(served, secrets, configured):
    http, client = mcp_as(served, secrets["claude"])
    async with http, client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"request_run", "request_cancel", "request_pause_trigger", "get_request"} <= tools
        assert not any("approve" in t for t in tools)
        status = await call(client, "status")
        assert {r["job"] for r in status["items"]} == {EXTRACT, LOAD}  # the token's scope, nothing of team-b
        request = await call(client, "request_run", job=EXTRACT, reason="re-run after the fix", params={"day": "mon"})
        assert (request["state"], request["requested_by"], request["params"]) == (
            "awaiting_approval", "claude", {"day": "mon"})
        assert configured.list_runs(job=EXTRACT) == []  # nothing runs on the agent's word
        assert "no job" in await call_error(client, "request_run", job=BILLING, reason="out of scope")

        # even were the agent's identity an approver too, its own request is not its to decide
        claude = Principal("claude", ("token:claude",), (Grant(Role.OPERATOR, ("cron://team-a/*",)),
                                                         Grant(Role.APPROVER, ("cron://team-a/*",))))
        with pytest.raises(Forbidden, match="four eyes"):
            await Service(configured, claude).approve(request["id"], "self")
        decision = await Service(configured, BOB).approve(request["id"], "fine")
        assert [(r.job, r.parameters, r.cause.actor) for r in decision.runs] == [(EXTRACT, {"day": "mon"}, "claude")]

        followed = await call(client, "get_request", request_id=request["id"])
        assert followed["state"] == "approved"
        assert followed["runs"] == [{"job": EXTRACT, "run_id": decision.runs[0].run_id}]
    assert len(configured.list_runs(job=EXTRACT)) == 1
    admin = Service(configured, Principal("root", (), (Grant(Role.ADMIN),)))
    actors = {(e["actor"], e["action"], e["outcome"]) for e in admin.audit_entries(limit=100)}
    assert {("claude", "request.run", "ok"), ("claude", "approval.approve", "denied"),
            ("bob", "approval.approve", "ok")} <= actors


async def test_pause_and_cancel_requests_wait_for_a_person_too(served, secrets, configured):
    http, client = mcp_as(served, secrets["claude"])
    async with http, client:
        pause = await call(client, "request_pause_trigger", trigger="load-after-extract", reason="noisy")
        assert pause["state"] == "awaiting_approval"
        assert not get_trigger(configured, "load-after-extract").paused
        assert "no run" in await call_error(client, "request_cancel", job=EXTRACT, run_id="nope", reason="x")
        await Service(configured, BOB).approve(pause["id"])
        assert (await call(client, "get_request", request_id=pause["id"]))["state"] == "approved"
    paused = get_trigger(configured, "load-after-extract")
    assert paused.paused and "requested by claude" in (paused.paused_reason or "")


async def test_without_a_valid_token_mcp_answers_401(served):
    http, client = mcp_as(served, "unf_not-a-token")
    async with http:
        answer = await http.post(served, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                 headers={"Accept": "application/json, text/event-stream"})
    assert answer.status_code == 401 and json.loads(answer.text)["detail"] == "unknown token"
