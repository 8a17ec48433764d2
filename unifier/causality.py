"""Why a stored run happened: its recorded cause followed back through the catalog and
the firing ledger to the root causes. One reading for ``unifier why`` and for
``GET /api/runs/{job}/{run_id}/why``."""

from __future__ import annotations

from typing import Any

from unifier.catalog import Catalog
from unifier.errors import NotFound
from unifier.model import Run, RunKey
from unifier.triggers.graph import Explanation, explain_run
from unifier.triggers.store import get_firing


def explain_stored_run(catalog: Catalog, run: Run) -> Explanation:
    """The cause tree of ``run``; upstream runs the catalog lacks are listed as missing."""

    def lookup(job: str, run_id: str) -> Run | None:
        try:
            return catalog.get_run(job, run_id)
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
