"""Acting on tools and triggers: trigger, cancel, logs, pause/resume, approvals.

A manual trigger of a job an ApprovalPolicy guards does not start anything: it becomes
an approval request in the firing ledger (:mod:`unifier.auth.approvals`). Approval by
enough approvers issues it through the ledger's exactly-once firing
(:class:`unifier.triggers.fire.Firer`), as the control loop would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from unifier import actions
from unifier.auth import approvals
from unifier.auth.approvals import Approval
from unifier.auth.roles import Permission
from unifier.errors import InvalidInput, NotFound
from unifier.model import Cause, CauseKind, JobRef, Run
from unifier.service.base import ServiceBase
from unifier.service.reads import ReadOps, trigger_jobs
from unifier.triggers import store


@dataclass(frozen=True)
class TriggerOutcome:
    """A run started, or an approval request waiting (never both)."""

    run: Run | None = None
    approval: Approval | None = None

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run.model_dump(mode="json") if self.run else None,
                "approval": self.approval.to_json() if self.approval else None}


@dataclass(frozen=True)
class Decision:
    approval: Approval
    runs: list[Run]  # started by this decision (approved and issued)

    def to_json(self) -> dict[str, Any]:
        return {"approval": self.approval.to_json(), "runs": [r.model_dump(mode="json") for r in self.runs]}


class ActOps(ReadOps, ServiceBase):
    async def trigger(self, uri: str, params: dict[str, Any]) -> TriggerOutcome:
        try:
            JobRef.parse(uri)  # a malformed URI is bad input, refused before anything
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        with self.act(Permission.TRIGGER, "trigger", uri, job=uri, detail={"params": sorted(params)}) as detail:
            with self.catalog.session() as s:
                request = approvals.request_manual(s, uri, params, self.principal.name)
            if request is not None:
                detail.update(approval=request.id, state=request.state)
                return TriggerOutcome(approval=request)
            run = await actions.trigger_job(self.catalog, uri, params,
                                            cause=Cause(kind=CauseKind.MANUAL, actor=self.principal.name))
            detail["run_id"] = run.run_id
            return TriggerOutcome(run=run)

    async def refresh_run(self, job: str, run_id: str) -> Run:
        """Ask the tool for the run's state now and record it (``trigger --wait`` polls this)."""
        self.require_visible(job)
        return await actions.refresh_run(self.catalog, job, run_id)

    async def cancel(self, job: str, run_id: str) -> None:
        with self.act(Permission.CANCEL, "cancel", job, job=job, detail={"run_id": run_id}):
            await actions.cancel_run(self.catalog, job, run_id)

    async def logs(self, job: str, run_id: str) -> str:
        self.require_visible(job)
        return await actions.run_logs(self.catalog, job, run_id)

    # ------------------------------------------------------------------ triggers

    def _require_on_trigger(self, name: str, action: str) -> store.StoredTrigger:
        found = self.trigger_definition(name)  # NotFound when out of scope
        for job in trigger_jobs(found.spec):
            self.require(Permission.PAUSE, job=job, action=action, target=f"trigger/{name}")
        return found

    def pause(self, name: str, reason: str) -> dict[str, Any]:
        self._require_on_trigger(name, "trigger.pause")
        with self.act(Permission.PAUSE, "trigger.pause", f"trigger/{name}", detail={"reason": reason}):
            store.pause_trigger(self.catalog, name, reason)
        return {"trigger": name, "paused": True, "reason": reason}

    def resume(self, name: str) -> dict[str, Any]:
        was = self._require_on_trigger(name, "trigger.resume")
        with self.act(Permission.PAUSE, "trigger.resume", f"trigger/{name}",
                      detail={"was": was.paused_reason}) as detail:
            resumed = store.resume_trigger(self.catalog, name)
            detail["resumed"] = resumed
        return {"trigger": name, "resumed": resumed, "paused": was.paused, "was": was.paused_reason}

    # ------------------------------------------------------------------ requests
    # An AI agent (MCP) never acts: each of its writes is an approval request, whether or
    # not a policy guards the job, that a person decides (:mod:`unifier.mcp.requests`).

    def request_run(self, job: str, params: dict[str, Any], reason: str) -> Approval:
        self.require_visible(job)  # out of scope is answered as not there
        with self.act(Permission.TRIGGER, "request.run", job, job=job,
                      detail={"params": sorted(params), "reason": reason}) as detail:
            self.catalog.get_job(job)  # an unknown job is refused now, not at approval
            with self.catalog.session() as s:
                request = approvals.request_manual(s, job, params, self.principal.name, always=True)
            assert request is not None  # always=True: a request whatever the policies
            detail["approval"] = request.id
        return request

    def request_cancel(self, job: str, run_id: str, reason: str) -> Approval:
        self.require_visible(job)
        with self.act(Permission.CANCEL, "request.cancel", job, job=job,
                      detail={"run_id": run_id, "reason": reason}) as detail:
            self.catalog.get_run(job, run_id)
            with self.catalog.session() as s:
                request = approvals.request_act(s, job, {"kind": "cancel", "run_id": run_id}, self.principal.name)
            detail["approval"] = request.id
        return request

    def request_pause(self, trigger: str, reason: str) -> Approval:
        found = self._require_on_trigger(trigger, "request.pause")
        job = found.spec.then[0].job  # the approver's scope must cover what the trigger starts
        with self.act(Permission.PAUSE, "request.pause", f"trigger/{trigger}", job=job,
                      detail={"reason": reason}) as detail:
            with self.catalog.session() as s:
                request = approvals.request_act(s, job, {"kind": "pause", "trigger": trigger, "reason": reason},
                                                self.principal.name)
            detail["approval"] = request.id
        return request

    def request_state(self, request_id: str) -> dict[str, Any]:
        """A request as ``get_approval`` has it, with the runs it started once approved."""
        self.require(Permission.READ)
        with self.catalog.session() as s:
            approvals.expire_due(s)
            found = approvals.get_approval(s, request_id)
        if found is None or not self.sees(found.job):
            raise NotFound(f"no request {request_id!r}")
        answer = found.to_json()
        try:
            firing = store.get_firing(self.catalog, request_id)
        except NotFound:  # a cancel or pause request: no firing
            answer["runs"] = []
        else:
            answer["runs"] = [{"job": a.job, "run_id": a.run_id} for a in firing.actions if a.run_id]
        return answer

    async def _perform(self, request: Approval) -> None:
        """Carry out an approved cancel or pause request, as its approver (the approval is
        the authority), audited with who asked."""
        act = request.params[approvals.ACT_KEY]
        detail = {"approval": request.id, "requested_by": request.requested_by}
        if act["kind"] == "cancel":
            with self.act(Permission.APPROVE, "cancel", request.job, job=request.job,
                          detail={**detail, "run_id": act["run_id"]}):
                await actions.cancel_run(self.catalog, request.job, act["run_id"])
        elif act["kind"] == "pause":
            with self.act(Permission.APPROVE, "trigger.pause", f"trigger/{act['trigger']}", job=request.job,
                          detail={**detail, "reason": act["reason"]}):
                await asyncio.to_thread(store.pause_trigger, self.catalog, act["trigger"],
                                        f"{act['reason']} (requested by {request.requested_by})")

    # ------------------------------------------------------------------ approvals

    def approvals(self, state: str | None = None, limit: int = 100) -> list[Approval]:
        self.require(Permission.READ)
        with self.catalog.session() as s:
            found = approvals.list_approvals(s, state, limit=limit)
        return [self._with_params(a) for a in self.visible(found)]

    def _with_params(self, request: Approval) -> Approval:
        """A trigger firing's parameters are rendered when it is issued; show the approver
        now exactly what will be sent (the rendering is deterministic: same firing, same
        upstream runs, same firing time)."""
        if request.params or request.state != approvals.AWAITING or request.requested_by.startswith("@"):
            return request
        from unifier.triggers.render import RenderError, render_params, upstream_context

        try:
            firing = store.get_firing(self.catalog, request.id)
            trigger = store.get_trigger(self.catalog, firing.trigger)
            rendered = render_params(trigger.spec.then, trigger=trigger.name, firing_id=firing.id,
                                     fired_at=firing.created_at,
                                     upstream=upstream_context(self.catalog, firing.upstream_runs))
        except (NotFound, RenderError):
            return request
        index = next((i for i, a in enumerate(firing.actions) if a.job == request.job), None)
        if index is None or index >= len(rendered):
            return request
        return replace(request, params=rendered[index])

    async def approve(self, approval_id: str, reason: str | None = None) -> Decision:
        return await self._decide(approval_id, "approve", reason)

    async def reject(self, approval_id: str, reason: str) -> Decision:
        return await self._decide(approval_id, "reject", reason)

    async def _decide(self, approval_id: str, decision: str, reason: str | None) -> Decision:
        from unifier.triggers.fire import Firer, FireReport

        action, target = f"approval.{decision}", f"approval/{approval_id}"
        with self.catalog.session() as s:
            known = approvals.get_approval(s, approval_id)
        if known is None or not self.sees(known.job):
            raise NotFound(f"no approval request {approval_id!r} (see `unifier approvals`)")
        self.require(Permission.APPROVE, job=known.job, action=action, target=target)
        try:
            with self.catalog.session() as s:
                decided = approvals.decide(s, approval_id, self.principal, decision, reason)
        except Exception as exc:
            from unifier.errors import Forbidden

            self._audit(action, target, "denied" if isinstance(exc, Forbidden) else "failed",
                        {"job": known.job, "error": str(exc)[:500]})
            raise
        self._audit(action, target, "ok", {"job": known.job, "reason": reason, "state": decided.state})
        runs: list[Run] = []
        if decided.state == "approved" and approvals.ACT_KEY in decided.params:
            await self._perform(decided)
        elif decided.state == "approved":
            # the ledger row is pending now: issue it through the loop's own firing path
            # (exactly once per action id, whoever gets there first: this or the leader)
            firer = Firer(self.catalog)
            await asyncio.gather(*await firer.start_due(FireReport(), only=[approval_id]))
            for action_done in store.get_firing(self.catalog, approval_id).actions:
                if action_done.run_id:
                    runs.append(self.catalog.get_run(action_done.job, action_done.run_id))
        return Decision(decided, runs)
