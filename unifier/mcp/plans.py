"""A dry-run plan as an agent sees it: limited to its scope, paths made relative.

Instances are shown when their namespace agrees with the scope, triggers when every
job they name is in scope; a cycle through a job outside the scope still refuses the
plan (apply would refuse it), but without naming that job.
"""

from __future__ import annotations

from typing import Any

from unifier.mcp.scope import Scope
from unifier.plan import Plan

PROPOSED = "proposed.yaml"


def plan_view(result: Plan, scope: Scope, path: str, instance_kinds: dict[str, str]) -> dict[str, Any]:
    """``instance_kinds`` maps each instance name (in the files or the catalog) to its adapter."""
    drawn = result.to_json()

    def trigger_visible(name: str) -> bool:
        trigger = result.graph.triggers.get(name)
        if trigger is None:
            return scope.unlimited
        jobs = [c.job for c in trigger.spec.when.conditions] + [a.job for a in trigger.spec.then]
        return all(scope.allows(job) for job in jobs)

    def change_visible(change: dict[str, Any]) -> bool:
        if change["kind"] == "Instance":
            kind = instance_kinds.get(change["name"])
            return kind is not None and scope.allows_instance(kind, change["name"])
        if change["kind"] == "Trigger":
            return trigger_visible(change["name"])
        return scope.unlimited

    def relative(text: str | None) -> str | None:
        return None if text is None else text.replace(path, PROPOSED)

    changes = [{**c, "source": relative(c["source"])} for c in drawn["changes"] if change_visible(c)]
    cycles = [c for c in drawn["cycles"] if all(scope.allows(job) for job in c["jobs"])]
    warnings = [{**w, "message": w["message"], "location": relative(w["location"])} for w in drawn["warnings"]
                if scope.allows(w["subject"]) or trigger_visible(w["subject"])]
    estimates = [e for e in drawn["estimates"] if trigger_visible(e["trigger"])]
    view: dict[str, Any] = {"valid": True, "refused": drawn["refused"], "changes": changes, "cycles": cycles,
                            "warnings": warnings, "estimates": estimates, "applied": False}
    if len(cycles) < len(drawn["cycles"]):
        view["refused_because"] = "the resulting triggers would loop through jobs outside your scope"
    return view
