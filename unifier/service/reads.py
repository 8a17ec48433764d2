"""Read operations: every listing, count, graph and stream filtered by scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from unifier.auth.approvals import expire_due, get_approval
from unifier.auth.roles import Permission
from unifier.catalog.listing import JobFilter, Page, RunFilter
from unifier.errors import InvalidInput, NotFound
from unifier.instance_health import InstanceFreshness, instance_freshness
from unifier.leader import LeaderInfo, current_leader
from unifier.model import Job, Run, RunEvent, utcnow
from unifier.service.base import ServiceBase
from unifier.status import InstanceRow, StatusRow, instance_rows, status_page
from unifier.triggers.graph import GraphTrigger
from unifier.triggers.store import Firing, StoredTrigger, get_trigger, list_firings, list_triggers
from unifier.triggers.why import explain_stored_run, explanation_view, render_explanation


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

    # Listings pass the principal's scope to the catalog (``scope=``): the filter is SQL,
    # so a page, its cursor and a count hold only what the principal may see.

    @property
    def _scope(self) -> Sequence[str] | None:
        return self.principal.read_scope()

    def status(self, where: JobFilter | None = None, *, sort: str | None = None, limit: int | None = None,
               cursor: str | None = None) -> Page[StatusRow]:
        self.require(Permission.READ)
        return status_page(self.catalog, where, scope=self._scope, sort=sort, limit=limit, cursor=cursor)

    def jobs(self, where: JobFilter | None = None, *, limit: int | None = None,
             cursor: str | None = None) -> Page[Job]:
        self.require(Permission.READ)
        return self.catalog.jobs_page(where, scope=self._scope, limit=limit, cursor=cursor)

    def job(self, uri: str) -> Job:
        self.require_visible(uri)
        return self.catalog.get_job(uri)

    def runs(self, where: RunFilter | None = None, *, sort: str | None = None, limit: int | None = 100,
             cursor: str | None = None) -> Page[Run]:
        self.require(Permission.READ)
        return self.catalog.runs_page(where, scope=self._scope, sort=sort, limit=limit, cursor=cursor)

    def run(self, job: str, run_id: str) -> Run:
        self.require_visible(job)
        return self.catalog.get_run(job, run_id)

    def instances(self) -> list[InstanceRow]:
        """Every instance for an unscoped principal; else those that may hold a job in scope."""
        self.require(Permission.READ)
        return instance_rows(self.catalog, scope=self._scope)

    def events(self, *, after: int = 0, job: str | None = None, limit: int = 1000) -> list[tuple[int, RunEvent]]:
        self.require(Permission.READ)
        return self.catalog.list_events(after_id=after, job=job, limit=limit, scope=self._scope)

    def leader(self) -> LeaderInfo | None:
        """The replica that leads the control loop (or led last)."""
        self.require(Permission.READ)
        return current_leader(self.catalog)

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

    def next(self, within: timedelta, now: datetime | None = None, *, job: str | None = None) -> list[dict[str, Any]]:
        """Expected runs in time order (of ``job`` only, when given: 404 when it is not there)."""
        from unifier.forecast import forecast

        self.require(Permission.READ)
        if job is not None:
            self.job(job)
        rows = forecast(self.catalog, self.graph_triggers(), within=within, now=now or utcnow(), only=job)
        return [r.to_json() for r in rows if self.sees(r.job)]

    def run_events(self, job: str, run_id: str) -> list[tuple[int, RunEvent]]:
        """One run's state changes in the order they were recorded (all its attempts)."""
        self.run(job, run_id)  # 404 for a run the catalog does not hold, or out of scope
        found: list[tuple[int, RunEvent]] = []
        after, page_size = 0, 1000
        while True:
            page = self.events(after=after, job=job, limit=page_size)
            found += [(i, e) for i, e in page if e.run_id == run_id]
            if len(page) < page_size:
                return found
            after = page[-1][0]

    def instance_health(self) -> list[InstanceFreshness]:
        """Each instance in scope: healthy or not, its last sync and error, staleness."""
        self.require(Permission.READ)
        shown = {s.instance.name for s in self.catalog.list_instances(scope=self._scope)}
        return [r for r in instance_freshness(self.catalog) if r.name in shown]

    def why(self, target: str, run_id: str | None = None) -> WhyAnswer:
        self.require(Permission.READ)
        if run_id is not None:
            run = self.run(target, run_id)
        else:
            found = self.catalog.find_run(target, scope=self._scope)
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

        explanation = explain_stored_run(self.catalog, run, visible=self.sees)
        data = explanation_view(explanation)
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
