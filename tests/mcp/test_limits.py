"""Limits: the per-agent rate limiter, the read-only mode and the audit of every call.

The write tools need a control plane that takes requests (the governance layer's
approvals). Until it exists, ``RequestBook`` below stands in for it: a minimal
implementation of :class:`ControlPlaneRequester` that books requests as awaiting
approval, so that what *this* layer does with requests (listing, annotations, rate
limits, audit) is tested through the SDK's client.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from mcp import Client

from tests.mcp.client import call, call_error
from unifier.mcp import Agent, MCPSettings, Scope, create_mcp_server
from unifier.mcp.audit import CatalogAudit
from unifier.mcp.backend import ControlPlaneRequester
from unifier.mcp.limits import RateLimited, RateLimiter, RateLimitSettings
from unifier.mcp.local import LocalControlPlane

WRITE_TOOLS = {"request_run", "request_cancel", "request_pause_trigger"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_says_when_to_retry():
    clock = Clock()
    limiter = RateLimiter(RateLimitSettings(per_minute=6, burst=2), clock=clock)
    limiter.acquire("agent-a")
    limiter.acquire("agent-a")
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("agent-a")
    assert refused.value.retry_after == pytest.approx(10.0)
    assert "retry in 10 s" in str(refused.value)
    limiter.acquire("agent-b")  # another agent has its own bucket
    clock.now += 9.0
    with pytest.raises(RateLimited) as again:
        limiter.acquire("agent-a")
    assert again.value.retry_after == pytest.approx(1.0)
    clock.now += 1.0
    limiter.acquire("agent-a")
    clock.now += 3600  # a long pause refills up to the burst, not beyond
    limiter.acquire("agent-a")
    limiter.acquire("agent-a")
    with pytest.raises(RateLimited):
        limiter.acquire("agent-a")


class RequestBook:
    """Books each request as awaiting approval; decides nothing."""

    def __init__(self) -> None:
        self.requests: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def _book(self, agent: Agent, **what: Any) -> dict[str, Any]:
        request = {"id": f"req-{next(self._ids)}", "state": "awaiting_approval", "requested_by": agent.name,
                   "acting_for": agent.acting_for, **what}
        self.requests[request["id"]] = request
        return request

    async def request_run(self, agent: Agent, job: str, params: dict[str, Any], reason: str) -> dict[str, Any]:
        return self._book(agent, action="run", job=job, params=params, reason=reason)

    async def request_cancel(self, agent: Agent, job: str, run_id: str, reason: str) -> dict[str, Any]:
        return self._book(agent, action="cancel", job=job, run_id=run_id, reason=reason)

    async def request_pause_trigger(self, agent: Agent, trigger: str, reason: str) -> dict[str, Any]:
        return self._book(agent, action="pause", trigger=trigger, reason=reason)

    async def get_request(self, agent: Agent, request_id: str) -> dict[str, Any]:
        return self.requests[request_id]


def _server(catalog, *, read_only: bool, book: RequestBook | None = None):
    assert isinstance(book or RequestBook(), ControlPlaneRequester)
    agent = Agent("agent-a", Scope.of(["cron://team-a/*"]), acting_for="alice")
    return create_mcp_server(LocalControlPlane(lambda: catalog), identify=lambda request: agent,
                             audit=CatalogAudit(lambda: catalog), requester=book or RequestBook(),
                             settings=MCPSettings(read_only=read_only,
                                                  rate_limit=RateLimitSettings(per_minute=1, burst=2)))


async def test_read_only_does_not_even_list_the_request_tools(catalog):
    async with Client(_server(catalog, read_only=False)) as client:
        writable = {t.name: t for t in (await client.list_tools()).tools}
    async with Client(_server(catalog, read_only=True)) as client:
        read_only = {t.name for t in (await client.list_tools()).tools}
        assert "Unknown tool" in await call_error(client, "request_run", job="cron://team-a/x", reason="r")
    assert WRITE_TOOLS <= set(writable) and not WRITE_TOOLS & read_only
    assert "get_request" in writable and "get_request" not in read_only
    for name in WRITE_TOOLS:
        assert writable[name].annotations.destructive_hint is True
        assert writable[name].annotations.read_only_hint is False
    assert not any("approve" in name or "reject" in name for name in writable)  # no tool decides


async def test_requests_are_rate_limited_per_agent_and_every_call_is_audited(catalog):
    book = RequestBook()
    async with Client(_server(catalog, read_only=False, book=book)) as client:
        first = await call(client, "request_run", job="cron://team-a/load", reason="disk freed",
                           params={"password": "hunter2-typed-by-the-agent", "rows": 42})
        await call(client, "request_pause_trigger", trigger="load-after-extract", reason="investigating")
        refused = await call_error(client, "request_cancel", job="cron://team-a/load", run_id="r1", reason="x")
        followed = await call(client, "get_request", request_id=first["id"])  # reads are not rate-limited
    assert first["state"] == "awaiting_approval" and first["requested_by"] == "agent-a"
    assert followed == first
    assert "rate limit" in refused and "retry in 60 s" in refused
    assert [r["action"] for r in book.requests.values()] == ["run", "pause"]  # the refused one booked nothing

    entries = {e["action"]: e for e in catalog.list_audit(limit=10)}
    assert entries["mcp.request_cancel"]["detail"]["outcome"] == "denied"
    run = entries["mcp.request_run"]
    assert (run["actor"], run["target"], run["detail"]["outcome"]) == ("agent-a", "cron://team-a/load", "ok")
    assert run["detail"]["acting_for"] == "alice"
    assert run["detail"]["arguments"]["params"] == {"password": "***", "rows": 42}
    assert "hunter2" not in json.dumps(list(entries.values()), default=str)
