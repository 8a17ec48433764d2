"""Compact, scope-limited JSON views of catalog objects for agents.

Compact: a listing row carries what an agent needs to decide its next call, not
every field (``get_run`` and the job resource carry the rest). Scope-limited: a job
outside the scope never appears, not even as a name inside another job's answer (an
upstream run in a causal chain, an edge of the graph, the "after" of a forecast).
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python

from unifier.forecast import Expected
from unifier.mcp.redact import Redactor
from unifier.mcp.scope import Scope
from unifier.model import Cause, CauseKind, Job, Run
from unifier.triggers.graph import GraphTrigger, TriggerGraph
from unifier.triggers.graph_formats import to_json
from unifier.triggers.why import Explanation

MAX_TEXT = 300  # characters of a description in a listing

HIDDEN = "outside your scope"


def _iso(value: Any) -> Any:
    return to_jsonable_python(value)


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + "..."


def cause_view(cause: Cause, scope: Scope) -> dict[str, Any]:
    view: dict[str, Any] = {"kind": cause.kind.value}
    if cause.trigger:
        view["trigger"] = cause.trigger
    if cause.actor:
        view["actor"] = cause.actor
    if cause.kind == CauseKind.TRIGGER:
        visible = [k for k in cause.upstream_runs if scope.allows(k.job)]
        view["upstream_runs"] = [{"job": k.job, "run_id": k.run_id} for k in visible]
        if len(visible) < len(cause.upstream_runs):
            view["upstream_hidden"] = HIDDEN
    return view


def run_brief(run: Run, scope: Scope) -> dict[str, Any]:
    return {"job": run.job, "run_id": run.run_id, "state": run.state.value, "native_state": run.native_state,
            "started_at": _iso(run.started_at or run.queued_at), "ended_at": _iso(run.ended_at),
            "cause": cause_view(run.cause, scope)}


def run_full(run: Run, scope: Scope, redactor: Redactor) -> dict[str, Any]:
    view = run_brief(run, scope)
    view.update({"attempt": run.attempt, "queued_at": _iso(run.queued_at), "started_at": _iso(run.started_at),
                 "parameters": redactor.value(run.parameters), "log_url": run.log_url,
                 "details": redactor.value(to_jsonable_python(run.details))})
    return view


def job_brief(job: Job, redactor: Redactor) -> dict[str, Any]:
    # a job's command line (cron's description) may hold a password the configuration references
    view: dict[str, Any] = {"uri": job.uri, "name": job.name, "kind": job.kind, "schedule": job.schedule,
                            "paused": job.paused}
    if job.owner:
        view["owner"] = job.owner
    if job.description:
        view["description"] = _short(redactor.text(job.description))
    if job.tags:
        view["tags"] = redactor.value(job.tags)
    return view


def job_full(job: Job, redactor: Redactor) -> dict[str, Any]:
    return {**job_brief(job, redactor), "description": redactor.value(job.description), "timezone": job.timezone,
            "url": job.url, "next_run_at": _iso(job.next_run_at), "native_id": job.native_id,
            "instance": job.instance}


def searchable_text(job: Job, redactor: Redactor) -> str:
    """What search_jobs matches, secrets masked: a search must not confirm a secret's value."""
    return redactor.text(" ".join([job.uri, job.name, job.description or "", job.owner or "", *job.tags])).lower()


def explanation_view(node: Explanation, scope: Scope) -> dict[str, Any]:
    """``explain_run``'s tree with runs outside the scope left out (and said so)."""
    run = node.run
    view: dict[str, Any] = {"job": run.job, "run_id": run.run_id, "state": run.state.value,
                            "started_at": _iso(run.started_at or run.queued_at), "ended_at": _iso(run.ended_at),
                            "cause": cause_view(run.cause, scope)}
    if node.repeated:
        view["repeated"] = True
        return view
    view["upstream"] = [explanation_view(child, scope) for child in node.upstream if scope.allows(child.run.job)]
    missing = [k for k in node.missing if scope.allows(k.job)]
    if missing:
        view["not_in_catalog"] = [{"job": k.job, "run_id": k.run_id} for k in missing]
    return view


def roots_view(explanation: Explanation, scope: Scope) -> list[dict[str, Any]]:
    return [{"job": r.job, "run_id": r.run_id, "cause": r.cause.kind.value}
            for r in explanation.roots() if scope.allows(r.job)]


# ---------------------------------------------------------------------- the trigger graph


def scoped_triggers(triggers: list[GraphTrigger], scope: Scope) -> list[GraphTrigger]:
    """Each trigger with its conditions and actions limited to the scope; a trigger
    left without an upstream or a downstream job in scope is dropped."""
    if scope.unlimited:
        return triggers
    kept = []
    for trigger in triggers:
        when = trigger.spec.when
        conditions = [c for c in when.conditions if scope.allows(c.job)]
        actions = [a for a in trigger.spec.then if scope.allows(a.job)]
        if not conditions or not actions:
            continue
        field = "all_of" if when.mode == "all" else "any_of"
        spec = trigger.spec.model_copy(update={"when": when.model_copy(update={field: conditions}),
                                               "then": actions})
        kept.append(GraphTrigger(trigger.name, spec, trigger.source, trigger.paused))
    return kept


def scoped_graph(triggers: list[GraphTrigger], scope: Scope) -> TriggerGraph:
    return TriggerGraph(scoped_triggers(triggers, scope))


def graph_view(graph: TriggerGraph, known_jobs: set[str]) -> dict[str, Any]:
    drawn = to_json(graph, known_jobs)
    for trigger in drawn["triggers"]:
        trigger.pop("source", None)  # a path on the control plane's machine: nothing an agent needs
    return drawn


def impact_view(graph: TriggerGraph, job: str) -> list[dict[str, Any]]:
    return [{"job": i.job, "depth": i.depth, "triggers": list(i.triggers),
             "path": [i.path[0].upstream, *(e.downstream for e in i.path)]} for i in graph.impact(job)]


def expected_view(row: Expected, scope: Scope) -> dict[str, Any]:
    view = row.to_json()
    if row.after is not None and not scope.allows(row.after):
        view["after"] = None
        view["detail"] = f"trigger {row.trigger} after an upstream job {HIDDEN} ends"
    return view
