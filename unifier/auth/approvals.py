"""Approval requests, kept beside the firing ledger they hold back.

A guarded firing is a ledger row with status ``awaiting_approval`` (never due, so the
loop never issues it) and an ``approvals`` row with the same id. Approval by enough
distinct approvers moves the ledger row to ``pending`` in the same transaction, and
the usual exactly-once firing takes over (:mod:`unifier.triggers.fire`); rejection or
expiry moves it to ``rejected`` / ``expired`` and nothing runs. There is no second
path to fire.

A manual trigger of a guarded job is a ledger row of the pseudo-trigger
:data:`MANUAL_TRIGGER` with its parameters fixed at request time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from unifier.auth.policies import ApprovalPolicy, approval_policies, approval_policy_for
from unifier.auth.principal import Principal
from unifier.auth.roles import Permission
from unifier.catalog.tables import ApprovalRow, FiringRow
from unifier.errors import Forbidden, InvalidInput, NotFound
from unifier.model import as_utc, utcnow

MANUAL_TRIGGER = "@manual"  # not a valid trigger name: never collides with a Trigger
AWAITING = "awaiting_approval"
ACT_KEY = "@act"  # params of a request to cancel or pause (no firing): {"@act": {"kind": ...}}
ANY_APPROVER = "*"  # in a request's approvers: anyone who holds the approve permission on the job

# What an AI agent's request of a job no ApprovalPolicy guards waits for: one person
# with the approve permission on the job (the agent itself never: four eyes).
AGENT_REQUESTS = ApprovalPolicy("agent-requests", ("*",), (ANY_APPROVER,), 1, timedelta(hours=4))


@dataclass(frozen=True)
class Approval:
    id: str
    job: str
    params: dict[str, Any]
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    state: str
    policy: str
    required: int
    decisions: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """As ``unifier approvals -o json``."""
        return {"id": self.id, "job": self.job, "params": self.params, "requested_by": self.requested_by,
                "requested_at": self.requested_at.isoformat(), "expires_at": self.expires_at.isoformat(),
                "state": self.state, "policy": self.policy, "required": self.required,
                "decisions": self.decisions}


def _utc(value: datetime) -> datetime:
    converted = as_utc(value)
    assert converted is not None  # a non-null column
    return converted


def _approval(row: ApprovalRow) -> Approval:
    return Approval(row.id, row.job, dict(row.params), row.requested_by, _utc(row.requested_at),
                    _utc(row.expires_at), row.state, row.policy, row.required, list(row.decisions))


def _request_row(fid: str, job: str, params: dict[str, Any], requested_by: str, policy: ApprovalPolicy,
                 now: datetime) -> ApprovalRow:
    return ApprovalRow(id=fid, job=job, params=params, requested_by=requested_by, requested_at=now,
                       expires_at=now + policy.timeout, state=AWAITING, policy=policy.name,
                       required=policy.required, approvers=list(policy.approvers), decisions=[],
                       decided_at=None)


def gate(s: Session, rows: list[dict[str, Any]]) -> None:
    """Hold back new ledger rows whose downstream jobs an ApprovalPolicy guards (called by
    the ledger inside the transaction that writes them, before they are inserted)."""
    policies = approval_policies(s)
    if not policies or not rows:
        return
    now = utcnow()
    for row in rows:
        for action in row["actions"]:
            policy = next((p for p in policies if p.guards(action["job"])), None)
            if policy is not None:
                row["status"], row["next_attempt_at"] = AWAITING, None
                s.add(_request_row(row["id"], action["job"], action.get("params") or {},
                                   f"trigger/{row['trigger']}", policy, now))
                break


def request_manual(s: Session, job: str, params: dict[str, Any], requested_by: str, *,
                   always: bool = False) -> Approval | None:
    """A manual trigger of ``job``: an approval request when a policy guards it, else
    ``None`` (the caller triggers directly). ``always``: a request whatever the policies
    say (an AI agent's, under :data:`AGENT_REQUESTS` when no policy guards the job)."""
    policy = approval_policy_for(s, job) or (AGENT_REQUESTS if always else None)
    if policy is None:
        return None
    from unifier.triggers.ledger import action_firing_id  # the ledger's own id scheme

    now = utcnow()
    fid = f"m-{uuid.uuid4().hex[:24]}"
    s.add(FiringRow(id=fid, trigger=MANUAL_TRIGGER, upstream_key=fid, upstream_runs=[], status=AWAITING,
                    actions=[{"job": job, "firing_id": action_firing_id(fid, 0), "params": params,
                              "run_id": None, "error": None}],
                    error=None, attempts=0, next_attempt_at=None, created_at=now, updated_at=now))
    row = _request_row(fid, job, params, requested_by, policy, now)
    s.add(row)
    s.flush()
    return _approval(row)


def request_act(s: Session, job: str, act: dict[str, Any], requested_by: str) -> Approval:
    """An AI agent's request to cancel a run or pause a trigger (``act``, kept under
    :data:`ACT_KEY` in the params): no firing holds it; the approval performs it
    (:meth:`unifier.service.acts.ActOps.approve`). ``job`` is what the approver's scope
    must cover."""
    policy = approval_policy_for(s, job) or AGENT_REQUESTS
    row = _request_row(f"r-{uuid.uuid4().hex[:24]}", job, {ACT_KEY: act}, requested_by, policy, utcnow())
    s.add(row)
    s.flush()
    return _approval(row)


def expire_due(s: Session, now: datetime | None = None) -> int:
    """Requests past their timeout expire, and their firings with them: nothing runs."""
    now = now or utcnow()
    due = list(s.scalars(select(ApprovalRow.id).where(ApprovalRow.state == AWAITING, ApprovalRow.expires_at <= now)))
    if due:
        s.execute(update(ApprovalRow).where(ApprovalRow.id.in_(due), ApprovalRow.state == AWAITING)
                  .values(state="expired", decided_at=now))
        s.execute(update(FiringRow).where(FiringRow.id.in_(due), FiringRow.status == AWAITING)
                  .values(status="expired", error="approval request expired", next_attempt_at=None,
                          updated_at=now))
    return len(due)


def list_approvals(s: Session, state: str | None = None, limit: int = 100) -> list[Approval]:
    expire_due(s)
    query = select(ApprovalRow).order_by(ApprovalRow.requested_at.desc(), ApprovalRow.id).limit(limit)
    if state:
        query = query.where(ApprovalRow.state == state)
    return [_approval(r) for r in s.scalars(query)]


def waiting_count(catalog: Any) -> int:
    """Requests awaiting a decision (``unifier_approval_requests_waiting``)."""
    from sqlalchemy import func

    with catalog.session() as s:
        return int(s.scalar(select(func.count()).select_from(ApprovalRow).where(ApprovalRow.state == AWAITING))
                   or 0)


def get_approval(s: Session, approval_id: str) -> Approval | None:
    row = s.get(ApprovalRow, approval_id)
    return _approval(row) if row else None


def decide(s: Session, approval_id: str, principal: Principal, decision: str, reason: str | None) -> Approval:
    """Record ``approve`` or ``reject`` by ``principal``; raises Forbidden when they may not."""
    if decision not in ("approve", "reject"):
        raise InvalidInput(f"decision must be approve or reject, not {decision!r}")
    expire_due(s)
    row = s.scalar(select(ApprovalRow).where(ApprovalRow.id == approval_id).with_for_update())
    if row is None:
        raise NotFound(f"no approval request {approval_id!r} (see `unifier approvals`)")
    if row.state != AWAITING:
        raise InvalidInput(f"approval request {approval_id} is {row.state}: nothing to decide")
    if row.requested_by == principal.name or row.requested_by in principal.subjects:
        raise Forbidden(f"{principal.name} requested {approval_id}: the requester cannot decide it "
                        "(four eyes)", permission="approve")
    if ANY_APPROVER not in row.approvers and not set(row.approvers) & set(principal.subjects):
        raise Forbidden(f"{principal.name} is not an approver of policy {row.policy} "
                        f"(approvers: {', '.join(row.approvers)})", permission="approve")
    if not principal.can(Permission.APPROVE, row.job):
        raise Forbidden(f"{principal.name} lacks permission 'approve' on {row.job}", permission="approve")
    if any(d["by"] == principal.name for d in row.decisions):
        raise InvalidInput(f"{principal.name} already decided {approval_id}")
    now = utcnow()
    decisions = [*row.decisions, {"by": principal.name, "decision": decision, "reason": reason,
                                  "at": now.isoformat()}]
    row.decisions = decisions
    firing = s.get(FiringRow, approval_id)
    if decision == "reject":
        row.state, row.decided_at = "rejected", now
        if firing is not None:
            firing.status, firing.error, firing.updated_at = "rejected", f"rejected by {principal.name}: {reason}", now
    elif sum(1 for d in decisions if d["decision"] == "approve") >= row.required:
        row.state, row.decided_at = "approved", now
        if firing is not None:  # from here on the ordinary exactly-once firing issues it
            firing.status, firing.next_attempt_at, firing.updated_at = "pending", now, now
    s.flush()
    return _approval(row)


def manual_cause(catalog: Any, firing_id: str) -> Any:
    """The cause of the run an approved manual trigger starts: who asked, and who approved."""
    from unifier.model import Cause, CauseKind

    with catalog.session() as s:
        row = s.get(ApprovalRow, firing_id)
    actor = row.requested_by if row else None
    return Cause(kind=CauseKind.MANUAL, actor=actor, firing_id=firing_id)
