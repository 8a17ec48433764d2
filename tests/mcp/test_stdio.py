"""``unifier mcp`` over stdio, driven by the SDK's client, on a catalog filled by the
real cron adapter. The agent is scoped to team-a: no answer names a team-b job."""

from __future__ import annotations

import json

from tests.mcp.client import call, call_error, stdio_client
from tests.mcp.conftest import BILLING, EXTRACT, LOAD, SECRET

READ_TOOLS = {"status", "search_jobs", "list_runs", "get_run", "why", "impact", "next", "get_logs", "graph",
              "instances", "plan"}

CYCLE = """\
apiVersion: unifier/v1
kind: Trigger
metadata: {name: extract-after-load}
spec:
  when: {any: [{job: cron://team-a/load, state: [failed]}]}
  then: [{job: cron://team-a/extract}]
"""


async def test_read_only_stdio_server_lists_exactly_the_read_tools(world):
    async with stdio_client(world.env, "--read-only") as client:
        tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == READ_TOOLS
    for tool in tools:
        assert tool.annotations.read_only_hint is True, tool.name
        assert tool.annotations.destructive_hint is False, tool.name
        assert tool.description, tool.name


async def test_every_read_tool_answers_a_team_a_agent_about_team_a_only(world):
    extract, load, billing = (world.only_run(j) for j in (EXTRACT, LOAD, BILLING))
    answers = []
    async with stdio_client(world.env, "--scope", "cron://team-a/*", "--agent", "agent-a",
                            "--acting-for", "alice") as client:
        status = await call(client, "status")
        answers.append(status)
        assert {r["job"]: r["state"] for r in status["items"]} == {EXTRACT: "succeeded", LOAD: "failed"}
        assert status["total"] == 2 and status["next_cursor"] is None
        failed = await call(client, "status", states=["failed"])
        assert [r["job"] for r in failed["items"]] == [LOAD]

        assert (await call(client, "search_jobs", query="billing"))["items"] == []
        assert (await call(client, "search_jobs", query=SECRET))["items"] == []  # no oracle for a secret
        found = await call(client, "search_jobs", query="extr")
        answers.append(found)
        assert [j["uri"] for j in found["items"]] == [EXTRACT]

        first = await call(client, "list_runs", limit=1)
        second = await call(client, "list_runs", limit=1, cursor=first["next_cursor"])
        answers += [first, second]
        assert {first["items"][0]["run_id"], second["items"][0]["run_id"]} == {extract.run_id, load.run_id}
        assert second["next_cursor"] is None  # the team-b run is not a third page
        assert "does not belong" in await call_error(client, "status", cursor=first["next_cursor"])

        run = await call(client, "get_run", job=EXTRACT, run_id=extract.run_id)
        answers.append(run)
        assert run["state"] == "succeeded" and run["cause"]["kind"] == "manual"
        assert run["details"]["output_tail"] == "connecting to db with password ***\nrows=42\n"

        why = await call(client, "why", job=LOAD, run_id=load.run_id)
        answers.append(why)
        assert why["chain"]["cause"] == {"kind": "trigger", "trigger": "load-after-extract", "actor": "unifier",
                                         "upstream_runs": [{"job": EXTRACT, "run_id": extract.run_id}]}
        assert [u["run_id"] for u in why["chain"]["upstream"]] == [extract.run_id]
        assert why["roots"] == [{"job": EXTRACT, "run_id": extract.run_id, "cause": "manual"}]

        impact = await call(client, "impact", job=EXTRACT)
        answers.append(impact)
        assert [(i["job"], i["triggers"]) for i in impact["items"]] == [(LOAD, ["load-after-extract"])]

        upcoming = await call(client, "next", within="48h", limit=100)
        answers.append(upcoming)
        assert {r["job"] for r in upcoming["items"]} == {EXTRACT, LOAD}

        logs = await call(client, "get_logs", job=EXTRACT, run_id=extract.run_id, lines=10)
        answers.append(logs)
        assert logs["lines"] == ["connecting to db with password ***", "rows=42"]
        tail = await call(client, "get_logs", job=LOAD, run_id=load.run_id, lines=1)
        assert tail["lines"] == ["disk full"] and tail["truncated"] is True and tail["total_lines"] == 2

        graph = await call(client, "graph")
        answers.append(graph)
        assert {n["id"] for n in graph["nodes"]} == {EXTRACT, LOAD}
        assert [(e["from"], e["to"], e["trigger"]) for e in graph["edges"]] == [(EXTRACT, LOAD, "load-after-extract")]

        instances = await call(client, "instances")
        answers.append(instances)
        assert [(i["name"], i["healthy"]) for i in instances["items"]] == [("team-a", True)]
        assert instances["items"][0]["seconds_since_sync"] >= 0

        plan = await call(client, "plan", yaml_text=CYCLE)
        answers.append(plan)
        assert plan["refused"] is True and plan["applied"] is False
        assert [c["action"] for c in plan["changes"]] == ["created"]
        assert {frozenset(c["jobs"]) for c in plan["cycles"]} == {frozenset({EXTRACT, LOAD})}

        page = await client.read_resource(f"unifier://job/{EXTRACT}")
        job_page = json.loads(page.contents[0].text)
        answers.append(job_page)
        assert job_page["job"]["uri"] == EXTRACT
        assert [r["run_id"] for r in job_page["recent_runs"]] == [extract.run_id]
        assert [t["downstream"] for t in job_page["triggers"]] == [LOAD]

        # team-b's jobs do not exist for this agent, whichever way it asks
        for tool, arguments in (("get_run", {"job": BILLING, "run_id": billing.run_id}),
                                ("why", {"job": BILLING, "run_id": billing.run_id}),
                                ("get_logs", {"job": BILLING, "run_id": billing.run_id}),
                                ("impact", {"job": BILLING})):
            assert f"no job '{BILLING}'" in await call_error(client, tool, **arguments)
        assert (await call(client, "list_runs", job=BILLING))["items"] == []

    text = json.dumps(answers)
    assert "team-b" not in text and "billing" not in text
    assert SECRET not in text

    catalog = world.catalog()
    try:
        audited = [e for e in catalog.list_audit(limit=500) if e["actor"] == "agent-a"]
    finally:
        catalog.close()
    assert {e["detail"]["tool"] for e in audited} == READ_TOOLS
    refused = [e for e in audited if e["target"] == BILLING and e["action"] != "mcp.list_runs"]
    assert len(refused) == 4 and {e["detail"]["outcome"] for e in refused} == {"failed"}
    assert all(e["detail"]["acting_for"] == "alice" and e["detail"]["transport"] == "stdio" for e in audited)
    searched = [e["detail"]["arguments"]["query"] for e in audited if e["action"] == "mcp.search_jobs"]
    assert "***" in searched and SECRET not in json.dumps(audited, default=str)
    plan_entry = next(e for e in audited if e["action"] == "mcp.plan")
    assert plan_entry["detail"]["arguments"]["yaml_text"].startswith("apiVersion: unifier/v1")


async def test_a_team_b_agent_sees_its_run_was_triggered_but_not_by_whom(world):
    billing = world.only_run(BILLING)
    async with stdio_client(world.env, "--scope", "cron://team-b/*", "--read-only") as client:
        why = await call(client, "why", job=BILLING, run_id=billing.run_id)
        graph = await call(client, "graph")
        status = await call(client, "status")
    assert why["chain"]["cause"]["trigger"] == "billing-after-extract"
    assert why["chain"]["cause"]["upstream_runs"] == [] and why["chain"]["upstream"] == []
    assert why["chain"]["cause"]["upstream_hidden"] == "outside your scope"
    assert graph["nodes"] == [] and graph["edges"] == []
    assert [r["job"] for r in status["items"]] == [BILLING]
    assert "team-a" not in json.dumps([why, graph, status])
