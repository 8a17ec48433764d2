"""Approvals sit in the firing ledger: a guarded firing or manual trigger waits, an
approval moves it to pending and the ordinary exactly-once firing issues it; a
rejection or a timeout means nothing runs."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from sqlalchemy import update

# the same module object pytest collected (rootdir-less "prepend" import): one FlakyAdapter class
from test_ledger import ANY, configure, cycles, finished, tools  # noqa: F401

from unifier.auth import Grant, Principal, Role
from unifier.auth import approvals as approval_store
from unifier.catalog.tables import ApprovalRow
from unifier.errors import Forbidden, InvalidInput, NotFound
from unifier.model import utcnow
from unifier.service import Service
from unifier.triggers.store import list_firings


def policy(required: int = 1, approvers: str = "[token:bob, token:carol, group:leads]", timeout: str = "1h") -> str:
    return textwrap.dedent(f"""\
        apiVersion: unifier/v1
        kind: ApprovalPolicy
        metadata: {{name: down-waits}}
        spec:
          jobs: ["flaky://down/*"]
          approvers: {approvers}
          required: {required}
          timeout: {timeout}
        """)


def person(name: str, role: Role = Role.APPROVER, scope: tuple[str, ...] = ("*",),
           groups: tuple[str, ...] = ()) -> Principal:
    return Principal(name, (f"token:{name}", *(f"group:{g}" for g in groups)), (Grant(role, scope),))


def as_(catalog, who: Principal) -> Service:
    return Service(catalog, who, source="test")


async def waiting_firing(catalog, tmp_path, **kwargs):
    configure(catalog, tmp_path, ANY, policy(**kwargs))
    await finished(catalog, "fake://up/a")
    await cycles(catalog)
    [firing] = list_firings(catalog, "c-after-a")
    return firing


async def test_a_guarded_firing_waits_and_runs_once_when_approved(catalog, tmp_path):
    firing = await waiting_firing(catalog, tmp_path)
    assert firing.status == "awaiting_approval"
    assert catalog.list_runs(job="flaky://down/c") == []
    [request] = as_(catalog, person("bob")).approvals()
    assert (request.id, request.job, request.requested_by) == (firing.id, "flaky://down/c", "trigger/c-after-a")
    # the approver sees the parameters the firing will send
    assert request.params == {"FROM": firing.upstream_runs[0].run_id, "WHO": "c-after-a", "N": 3}

    decision = await as_(catalog, person("bob")).approve(firing.id, "go")
    assert decision.approval.state == "approved"
    assert [r.job for r in decision.runs] == ["flaky://down/c"]
    assert decision.runs[0].parameters == request.params
    await cycles(catalog)  # the loop sees an issued firing: nothing more
    assert len(catalog.list_runs(job="flaky://down/c")) == 1
    assert list_firings(catalog, "c-after-a")[0].status == "issued"


async def test_a_crash_between_approval_and_firing_neither_loses_nor_doubles_the_run(catalog, tmp_path):
    firing = await waiting_firing(catalog, tmp_path)
    with catalog.session() as s:  # the approval committed; the process died before issuing
        approval_store.decide(s, firing.id, person("bob"), "approve", None)
    assert list_firings(catalog, "c-after-a")[0].status == "pending"
    await cycles(catalog)  # the restarted loop issues it, as any pending firing
    await cycles(catalog)
    runs = catalog.list_runs(job="flaky://down/c")
    assert len(runs) == 1
    assert runs[0].cause.firing_id == firing.id


async def test_rejected_or_expired_requests_run_nothing_and_why_names_who_decided(catalog, tmp_path):
    firing = await waiting_firing(catalog, tmp_path)
    decision = await as_(catalog, person("carol")).reject(firing.id, "not today")
    assert decision.approval.state == "rejected" and decision.runs == []
    await cycles(catalog)
    assert catalog.list_runs(job="flaky://down/c") == []
    assert list_firings(catalog, "c-after-a")[0].status == "rejected"
    why = as_(catalog, person("viewer", Role.VIEWER)).why(firing.id)
    assert "rejected by carol: not today" in why.text
    with pytest.raises(InvalidInput, match="rejected: nothing to decide"):
        await as_(catalog, person("bob")).approve(firing.id)

    second = await as_(catalog, person("olga", Role.OPERATOR)).trigger("flaky://down/d", {"x": "1"})
    assert second.approval is not None and second.run is None
    with catalog.session() as s:
        s.execute(update(ApprovalRow).where(ApprovalRow.id == second.approval.id)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    [expired] = as_(catalog, person("bob")).approvals(state="expired")
    assert expired.id == second.approval.id
    with pytest.raises(InvalidInput, match="expired"):
        await as_(catalog, person("bob")).approve(second.approval.id)
    await cycles(catalog)
    assert catalog.list_runs(job="flaky://down/d") == []


async def test_distinct_approvers_named_by_the_policy_with_the_permission_in_scope(catalog, tmp_path):
    firing = await waiting_firing(catalog, tmp_path, required=2)
    with pytest.raises(Forbidden, match="not an approver"):
        await as_(catalog, person("mallory")).approve(firing.id)
    with pytest.raises(NotFound):  # out of scope: the request does not exist for carol
        await as_(catalog, person("carol", scope=("fake://*",))).approve(firing.id)
    sees_all = Principal("carol", ("token:carol",), (Grant(Role.VIEWER), Grant(Role.APPROVER, ("fake://*",))))
    with pytest.raises(Forbidden, match="lacks permission 'approve'"):
        await as_(catalog, sees_all).approve(firing.id)
    with pytest.raises(Forbidden, match="lacks permission 'approve'"):
        await as_(catalog, person("carol", Role.OPERATOR)).approve(firing.id)
    first = await as_(catalog, person("bob")).approve(firing.id)
    assert first.approval.state == "awaiting_approval" and first.runs == []
    with pytest.raises(InvalidInput, match="already decided"):
        await as_(catalog, person("bob")).approve(firing.id)
    second = await as_(catalog, person("dana", groups=("leads",))).approve(firing.id)  # named through a group
    assert second.approval.state == "approved" and len(second.runs) == 1
    assert len(catalog.list_runs(job="flaky://down/c")) == 1


async def test_the_requester_never_approves_their_own_request(catalog, tmp_path):
    configure(catalog, tmp_path, policy())
    both = Principal("bob", ("token:bob",), (Grant(Role.OPERATOR), Grant(Role.APPROVER)))
    outcome = await as_(catalog, both).trigger("flaky://down/c", {})
    assert outcome.approval is not None
    with pytest.raises(Forbidden, match="cannot decide it"):
        await as_(catalog, both).approve(outcome.approval.id)
    assert catalog.list_runs(job="flaky://down/c") == []
    audit = as_(catalog, person("root", Role.ADMIN)).audit_entries(action="approval.approve")
    assert [(e["actor"], e["outcome"]) for e in audit] == [("bob", "denied")]


async def test_an_unguarded_manual_trigger_runs_at_once(catalog, tmp_path):
    configure(catalog, tmp_path, policy())
    outcome = await as_(catalog, person("olga", Role.OPERATOR)).trigger("fake://up/a", {})
    assert outcome.approval is None and outcome.run is not None
    assert outcome.run.cause.actor == "olga"
