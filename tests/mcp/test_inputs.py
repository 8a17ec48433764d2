"""Bad input from an agent gets a clear message (never a stack trace); the job resource
and the prompt follow the SDK's conventions and the agent's scope."""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.mcp.client import call, call_error
from tests.mcp.conftest import BILLING, EXTRACT
from unifier.mcp import Agent, Scope, create_mcp_server
from unifier.mcp.audit import CatalogAudit
from unifier.mcp.local import MAX_PLAN_TEXT, LocalControlPlane


def _client(catalog, *patterns: str) -> Client:
    agent = Agent("agent-x", Scope.of(list(patterns)) if patterns else Scope())
    return Client(create_mcp_server(LocalControlPlane(lambda: catalog), identify=lambda request: agent,
                                    audit=CatalogAudit(lambda: catalog)))


@pytest.mark.parametrize(("tool", "arguments", "message"), [
    ("status", {"limit": 0}, "limit must be at least 1"),
    ("status", {"cursor": "not-a-cursor"}, "invalid cursor"),
    ("status", {"states": ["exploded"]}, "unknown state 'exploded'"),
    ("list_runs", {"since": "yesterday-ish"}, "since:"),
    ("next", {"within": "soon"}, "within:"),
    ("get_logs", {"job": "cron://x/y", "run_id": "r", "lines": 100000}, "lines"),
    ("get_run", {"job": "cron://nowhere/x", "run_id": "r1"}, "no run 'r1'"),
    ("why", {"job": "cron://nowhere/x", "run_id": "r1"}, "no run 'r1'"),
    ("plan", {"yaml_text": "kind: [unclosed"}, None),
    ("no_such_tool", {}, "Unknown tool"),
])
async def test_bad_input_is_answered_with_a_clear_message(catalog, tool, arguments, message):
    async with _client(catalog) as client:
        if message is None:  # a refused YAML is an answer, with the problems located
            answer = await call(client, tool, **arguments)
            assert answer["valid"] is False and answer["problems"][0]["line"] >= 1
            return
        text = await call_error(client, tool, **arguments)
    assert message in text and "Traceback" not in text
    (entry,) = [e for e in catalog.list_audit(limit=5) if e["action"] == f"mcp.{tool}"]
    assert entry["detail"]["outcome"] == "failed" and message in entry["detail"]["error"]


async def test_an_oversized_plan_is_refused_before_it_is_read(catalog):
    async with _client(catalog) as client:
        text = await call_error(client, "plan", yaml_text="#" * (MAX_PLAN_TEXT + 1))
    assert f"at most {MAX_PLAN_TEXT}" in text


async def test_job_resource_and_prompt(world):
    catalog = world.catalog()
    try:
        async with _client(catalog, "cron://team-a/*") as client:
            templates = (await client.list_resource_templates()).resource_templates
            page = json.loads((await client.read_resource(f"unifier://job/{EXTRACT}")).contents[0].text)
            with pytest.raises(MCPError) as hidden:
                await client.read_resource(f"unifier://job/{BILLING}")
            prompt = await client.get_prompt("investigate_failure", {"job": EXTRACT})
    finally:
        catalog.close()
    assert [t.uri_template for t in templates] == ["unifier://job/{+uri}"]
    assert page["job"]["uri"] == EXTRACT and page["job"]["schedule"] == "0 2 * * *"
    assert f"no job '{BILLING}'" in str(hidden.value)
    assert EXTRACT in prompt.messages[0].content.text and "get_logs" in prompt.messages[0].content.text
