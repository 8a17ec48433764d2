"""``unifier why``: the graph of runs the triggers produced, walked back to its causes.

:func:`explain_run` follows a run's recorded cause (trigger and upstream runs) back to
the runs at its origin; :func:`render_explanation` draws the result as a tree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from unifier.catalog import Catalog
from unifier.errors import NotFound
from unifier.model import CauseKind, Run, RunKey
from unifier.triggers.store import get_firing


@dataclass
class Explanation:
    """Why a run happened: its cause and, for a trigger, the explanations of the
    upstream runs that satisfied it. ``missing`` lists upstream runs the catalog does
    not hold (yet); ``repeated`` marks a run already explained higher in the tree."""

    run: Run
    upstream: list[Explanation] = field(default_factory=list)
    missing: list[RunKey] = field(default_factory=list)
    repeated: bool = False

    def roots(self) -> list[Run]:
        """The runs at the origin of the chain (not caused by a trigger), each once."""
        if not self.upstream and not self.missing and self.run.cause.kind != CauseKind.TRIGGER:
            return [self.run]
        found: dict[RunKey, Run] = {}
        for item in self.upstream:
            found.update((r.key, r) for r in item.roots())
        return list(found.values())

    def to_json(self) -> dict[str, Any]:
        cause = self.run.cause
        return {
            "job": self.run.job, "run_id": self.run.run_id, "state": self.run.state.value,
            "started_at": self.run.started_at.isoformat() if self.run.started_at else None,
            "ended_at": self.run.ended_at.isoformat() if self.run.ended_at else None,
            "cause": cause.model_dump(mode="json"),
            "repeated": self.repeated,
            "upstream": [u.to_json() for u in self.upstream],
            "missing": [m.model_dump() for m in self.missing],
        }


def explain_run(get_run: Callable[[str, str], Run | None], run: Run, *, max_depth: int = 100,
                firing_upstream: Callable[[str], list[RunKey]] | None = None) -> Explanation:
    """Follow ``run``'s recorded cause back to its root causes.

    ``get_run(job, run_id)`` returns a stored run or None. When a triggered run's cause
    names its firing but not its upstream runs, ``firing_upstream(firing_id)`` reads
    them from the ledger. A run met twice (two downstream branches from one upstream)
    is explained once and marked ``repeated`` the next time; the walk stops at
    ``max_depth`` in case the history loops.
    """
    seen: set[RunKey] = set()

    def walk(current: Run, depth: int) -> Explanation:
        node = Explanation(current)
        if current.key in seen:
            node.repeated = True
            return node
        seen.add(current.key)
        if current.cause.kind != CauseKind.TRIGGER or depth >= max_depth:
            return node
        keys = current.cause.upstream_runs
        if not keys and current.cause.firing_id and firing_upstream is not None:
            keys = firing_upstream(current.cause.firing_id)
        for key in keys:
            upstream = get_run(key.job, key.run_id)
            if upstream is None:
                node.missing.append(key)
            else:
                node.upstream.append(walk(upstream, depth + 1))
        return node

    return walk(run, 0)


def describe_cause(run: Run) -> str:
    cause = run.cause
    if cause.kind == CauseKind.TRIGGER:
        text = f"trigger {cause.trigger or '?'}"
        if cause.firing_id:
            text += f" (firing {cause.firing_id})"
        return text
    if cause.kind == CauseKind.MANUAL:
        return f"manual{f' by {cause.actor}' if cause.actor else ''}"
    if cause.kind == CauseKind.SCHEDULE:
        return "schedule"
    if cause.kind == CauseKind.EXTERNAL:
        return f"external{f' ({cause.actor})' if cause.actor else ''}"
    return "unknown (the tool did not say)"


def render_explanation(explanation: Explanation) -> str:
    """An indented tree, one run per line with its cause under it."""
    lines: list[str] = []

    def stamp(run: Run) -> str:
        moment = run.started_at or run.queued_at or run.ended_at
        return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "time unknown"

    def walk(node: Explanation, indent: str) -> None:
        run = node.run
        if node.repeated:
            lines.append(f"{indent}{run.job} run {run.run_id} (explained above)")
            return
        lines.append(f"{indent}{run.job} run {run.run_id}  {run.state.value}  {stamp(run)}")
        lines.append(f"{indent}  caused by {describe_cause(run)}")
        for child in node.upstream:
            walk(child, indent + "    ")
        if run.cause.kind == CauseKind.TRIGGER and not node.upstream and not node.missing:
            lines.append(f"{indent}  (its upstream runs are recorded neither on the run nor in the ledger)")
        for key in node.missing:
            lines.append(f"{indent}    {key.job} run {key.run_id}  (not in the catalog: sync its instance)")

    walk(explanation, "")
    roots = explanation.roots()
    if roots and roots != [explanation.run]:
        lines.append("root cause: " + "; ".join(f"{r.job} run {r.run_id} ({describe_cause(r)})" for r in roots))
    return "\n".join(lines) + "\n"


def explain_stored_run(catalog: Catalog, run: Run, *,
                       visible: Callable[[str], bool] | None = None) -> Explanation:
    """Follow ``run``'s cause back to its roots through the catalog's runs and the
    firing ledger (``unifier why``, the API and the MCP tool alike). Runs of jobs that
    ``visible`` rejects (outside a caller's scope) are treated like runs the catalog
    does not hold."""

    def lookup(job: str, native: str) -> Run | None:
        if visible is not None and not visible(job):
            return None
        try:
            return catalog.get_run(job, native)
        except NotFound:
            return None

    def firing_upstream(firing_id: str) -> list[RunKey]:
        try:
            return get_firing(catalog, firing_id).upstream_runs
        except NotFound:
            return []

    return explain_run(lookup, run, firing_upstream=firing_upstream)


def explanation_view(explanation: Explanation) -> dict[str, Any]:
    """As ``unifier why -o json``: the tree, plus the root causes named once each."""
    return {**explanation.to_json(),
            "roots": [{"job": r.job, "run_id": r.run_id, "cause": r.cause.kind.value}
                      for r in explanation.roots()]}
