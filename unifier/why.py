"""``why`` over the catalog: a stored run's causal chain, read from the runs and the
firing ledger (for ``unifier why``, the API and the MCP tool alike)."""

from __future__ import annotations

from collections.abc import Callable

from unifier.catalog import Catalog
from unifier.errors import NotFound
from unifier.model import Run, RunKey
from unifier.triggers.graph import Explanation, explain_run
from unifier.triggers.store import get_firing


def explain_stored_run(catalog: Catalog, run: Run, *,
                       visible: Callable[[str], bool] | None = None) -> Explanation:
    """Follow ``run``'s cause back to its roots. Runs of jobs ``visible`` rejects (outside
    a caller's scope) are treated like runs the catalog does not hold."""

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
