"""Read operations: every listing, count, graph and stream filtered by scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from unifier.auth.approvals import expire_due, get_approval
from unifier.auth.roles import Permission
from unifier.errors import InvalidInput, NotFound
from unifier.model import Job, Run, RunEvent, RunKey, RunState, utcnow
from unifier.service.base import ServiceBase
from unifier.status import InstanceRow, StatusRow, instance_rows, status_rows
from unifier.triggers.graph import GraphTrigger, explain_run, render_explanation
from unifier.triggers.store import Firing, StoredTrigger, get_firing, get_trigger, list_firings, list_triggers


@dataclass(frozen=True)
class WhyAnswer:
    """``unifier why``: the JSON and the rendered tree."""

    json: dict[str, Any]
    text: str


def trigger_jobs(spec: Any) -> list[str]:
    return sorted({c.job for c in spec.when.conditions} | {a.job for a in spec.then})


class ReadOps(ServiceBase):
    def whoami(self) -> dict[str, Any]:
        return self.principal.to_json()

    def status(self) -> list[StatusRow]:
        self.require(Permission.READ)
        return self.visible(status_rows(self.catalog))

    def jobs(self, instance: str | None = None) -> list[Job]:
        self.require(Permission.READ)
        return self.visible(self.catalog.list_jobs(instance), lambda j: j.uri)

    def job(self, uri: str) -> Job:
        self.require_visible(uri)
        return self.catalog.get_job(uri)

    def runs(self, *, job: str | None = None, instance: str | None = None, states: list[RunState] | None = None,
             since: timedelta | None = None, limit: int = 100) -> list[Run]:
        self.require(Permission.READ)
        if job is not None and not self.sees(job):
            return []
        found = self.catalog.list_runs(job=job, instance=instance, states=states,
                                       since=utcnow() - since if since else None,
                                       limit=None if not self.principal.unscoped else limit)
        return self.visible(found)[:limit]

    def run(self, job: str, run_id: str) -> Run:
        self.require_visible(job)
        return self.catalog.get_run(job, run_id)

    def instances(self) -> list[InstanceRow]:
        self.require(Permission.READ)
        rows = instance_rows(self.catalog)
        if self.principal.unscoped:
            return rows
        seen = {j.instance for j in self.jobs()}  # an instance shows when one of its jobs does
        return [r for r in rows if r.name in seen]

    def events(self, *, after: int = 0, job: str | None = None, limit: int = 1000) -> list[tuple[int, RunEvent]]:
        self.require(Permission.READ)
        if job is not None and not self.sees(job):
            return []
        if self.principal.unscoped:
            return self.catalog.list_events(after_id=after, job=job, limit=limit)
        found: list[tuple[int, RunEvent]] = []
        while len(found) < limit:  # page on until enough visible events (or none left)
            page = self.catalog.list_events(after_id=after, job=job, limit=limit)
            found += [(i, e) for i, e in page if self.sees(e.job)]
            if len(page) < limit:
                break
            after = page[-1][0]
        return found[:limit]

    def latest_event_id(self) -> int:
        self.require(Permission.READ)
        return self.catalog.latest_event_id()

    # ------------------------------------------------------------------ triggers

    def triggers(self) -> list[StoredTrigger]:
        """Triggers whose every job the principal sees (a trigger shows both sides)."""
        self.require(Permission.READ)
        return [t for t in list_triggers(self.catalog) if all(self.sees(j) for j in trigger_jobs(t.spec))]

    def trigger_definition(self, name: str) -> StoredTrigger:
        self.require(Permission.READ)
        found = get_trigger(self.catalog, name)
        if not all(self.sees(j) for j in trigger_jobs(found.spec)):
            raise NotFound(f"no trigger named {name!r}")
        return found

    def graph_triggers(self) -> list[GraphTrigger]:
        return [GraphTrigger.from_stored(t) for t in self.triggers()]

    def firings(self, trigger: str | None = None, *, status: str | None = None, limit: int = 100) -> list[Firing]:
        self.require(Permission.READ)
        with self.catalog.session() as s:  # requests past their timeout show as expired
            expire_due(s)
        found = list_firings(self.catalog, trigger, status=status, limit=None if not self.principal.unscoped else limit)
        return [f for f in found if all(self.sees(a.job) for a in f.actions)
                and all(self.sees(k.job) for k in f.upstream_runs)][:limit]

    def next(self, within: timedelta, now: datetime | None = None) -> list[dict[str, Any]]:
        from unifier.forecast import forecast

        self.require(Permission.READ)
        rows = forecast(self.catalog, self.graph_triggers(), within=within, now=now or utcnow())
        return [r.to_json() for r in rows if self.sees(r.job)]

    def why(self, target: str, run_id: str | None = None) -> WhyAnswer:
        self.require(Permission.READ)
        if run_id is not None:
            run = self.run(target, run_id)
        else:
            found = [r for r in self.catalog.find_run(target) if self.sees(r.job)]
            if not found:
                decided = self._approval_answer(target)
                if decided is not None:
                    return decided
                raise NotFound(f"no run {target!r} in the catalog (see `unifier runs`)")
            if len(found) > 1:
                jobs = ", ".join(sorted(r.job for r in found))
                raise InvalidInput(f"run id {target!r} belongs to several jobs ({jobs}): "
                                   f"give the job too: unifier why JOB_URI {target}")
            run = found[0]

        def lookup(job: str, native: str) -> Run | None:
            try:
                return self.catalog.get_run(job, native) if self.sees(job) else None
            except NotFound:
                return None

        def firing_upstream(firing_id: str) -> list[RunKey]:
            try:
                return get_firing(self.catalog, firing_id).upstream_runs
            except NotFound:
                return []

        explanation = explain_run(lookup, run, firing_upstream=firing_upstream)
        data = {**explanation.to_json(),
                "roots": [{"job": r.job, "run_id": r.run_id, "cause": r.cause.kind.value}
                          for r in explanation.roots()]}
        text = render_explanation(explanation)
        approval = self._approval_of(run.cause.firing_id)
        if approval is not None:
            data["approval"] = approval
            text += _decided_text(approval)
        return WhyAnswer(data, text)

    def _approval_of(self, firing_id: str | None) -> dict[str, Any] | None:
        if not firing_id:
            return None
        with self.catalog.session() as s:
            found = get_approval(s, firing_id)
        return found.to_json() if found and self.sees(found.job) else None

    def _approval_answer(self, approval_id: str) -> WhyAnswer | None:
        """``unifier why APPROVAL_ID``: a request that ran nothing (rejected, expired, waiting)."""
        approval = self._approval_of(approval_id)
        if approval is None:
            return None
        text = f"{approval['job']}: approval request {approval_id} by {approval['requested_by']}, {approval['state']}\n"
        return WhyAnswer({"approval": approval}, text + _decided_text(approval))


def _decided_text(approval: dict[str, Any]) -> str:
    past = {"approve": "approved", "reject": "rejected"}
    lines = [f"  {past[d['decision']]} by {d['by']}" + (f": {d['reason']}" if d.get("reason") else "")
             for d in approval["decisions"]]
    if approval["state"] == "expired":
        lines.append(f"  expired at {approval['expires_at']} (nothing ran)")
    return "".join(line + "\n" for line in lines)
