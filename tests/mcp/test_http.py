"""MCP over streamable HTTP: ``/mcp`` on a real ``unifier serve``, the ``unifier mcp``
relay to it (UNIFIER_SERVER), and the scope taken from each request's identity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
import uvicorn
from mcp import Client
from starlette.requests import Request

from tests.mcp.client import call, call_error, stdio_client
from tests.mcp.conftest import BILLING, EXTRACT, LOAD, SECRET, free_port, wait_listening
from unifier.catalog import Catalog
from unifier.mcp import Agent, Scope, create_mcp_app

READ_TOOLS = {"status", "search_jobs", "list_runs", "get_run", "why", "impact", "next", "get_logs", "graph",
              "instances", "plan"}
# unifier's own server takes requests (approval requests a person decides: test_requests.py)
SERVED_TOOLS = READ_TOOLS | {"request_run", "request_cancel", "request_pause_trigger", "get_request"}


@pytest.fixture(scope="module")
def served(world):
    """``unifier serve`` on a free loopback port, over the world's catalog."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "unifier", "serve", "--listen", f"127.0.0.1:{port}"],
                               env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_unifier_serve_answers_mcp_at_slash_mcp(world, served):
    extract = world.only_run(EXTRACT)
    async with Client(f"{served}/mcp") as client:
        assert {t.name for t in (await client.list_tools()).tools} == SERVED_TOOLS
        status = await call(client, "status")
        logs = await call(client, "get_logs", job=EXTRACT, run_id=extract.run_id)
        assert "required" in await call_error(client, "get_run", job=EXTRACT)  # run_id missing
    # no identity configured on this server: every caller is the same unauthenticated user
    assert {r["job"] for r in status["items"]} == {EXTRACT, LOAD, BILLING}
    assert logs["lines"][0] == "connecting to db with password ***"
    catalog = world.catalog()
    try:
        entries = [e for e in catalog.list_audit(limit=500) if e["actor"] == "anonymous"]
    finally:
        catalog.close()
    assert {(e["action"], e["detail"]["outcome"]) for e in entries} >= {
        ("mcp.status", "ok"), ("mcp.get_logs", "ok"), ("mcp.get_run", "failed")}
    assert {(e["detail"]["transport"], e["detail"]["source"]) for e in entries} == {("http", "127.0.0.1")}


async def test_unifier_mcp_relays_stdio_to_the_server_named_by_unifier_server(world, served):
    env = {**world.env, "UNIFIER_SERVER": served, "UNIFIER_TOKEN": "not-checked-yet"}
    async with stdio_client(env) as client:
        assert {t.name for t in (await client.list_tools()).tools} == SERVED_TOOLS
        graph = await call(client, "graph")
    assert {(e["from"], e["to"]) for e in graph["edges"]} == {(EXTRACT, LOAD), (EXTRACT, BILLING)}


def test_unifier_mcp_refuses_local_options_with_a_server(world):
    env = {**world.env, "UNIFIER_SERVER": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-m", "unifier", "mcp", "--scope", "cron://team-a/*"], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "the server decides" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def scoped_server(world):
    """The standalone MCP app under a real uvicorn, where each request's identity (here
    a header standing in for the bearer token of the governance layer) sets its scope.
    Like any unifier process it has the environment its configuration references."""
    os.environ["TEAM_A_DB_PASSWORD"] = world.env["TEAM_A_DB_PASSWORD"]
    catalog = Catalog.open(world.catalog_url)

    def identify(request: Request | None) -> Agent:
        team = request.headers.get("x-team", "") if request is not None else ""
        return Agent(f"agent-{team}", Scope.of([f"cron://{team}/*"]))

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_mcp_app(lambda: catalog, identify=identify), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_listening(port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        catalog.close()
        del os.environ["TEAM_A_DB_PASSWORD"]


async def _everything(url: str, team: str) -> list:
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    answers = []
    async with (create_mcp_http_client(headers={"x-team": team}) as http,
                Client(streamable_http_client(url, http_client=http)) as client):
        for tool, arguments in (("status", {}), ("search_jobs", {}), ("list_runs", {}), ("graph", {}),
                                ("instances", {}), ("next", {"within": "48h", "limit": 100})):
            answers.append(await call(client, tool, **arguments))
    return answers


async def test_over_http_each_request_sees_only_its_identity_scope(scoped_server):
    team_a = json.dumps(await _everything(scoped_server, "team-a"))
    team_b = json.dumps(await _everything(scoped_server, "team-b"))
    assert EXTRACT in team_a and LOAD in team_a and "team-b" not in team_a
    assert BILLING in team_b and "team-a" not in team_b
    assert SECRET not in team_a + team_b
