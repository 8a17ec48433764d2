"""The evaluator's memory between cycles belongs to it, not to the process."""

from __future__ import annotations

from unifier.catalog import Catalog
from unifier.triggers import evaluate as evaluation
from unifier.triggers.evaluate import Evaluator


def test_two_catalogs_in_one_process_track_their_own_gaps(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(evaluation.time, "monotonic", lambda: clock[0])
    first = Evaluator(Catalog.open(f"sqlite:///{tmp_path / 'a.db'}"))
    second = Evaluator(Catalog.open(f"sqlite:///{tmp_path / 'b.db'}"))
    assert first.settled(0, [2, 3]) == 0  # id 1 missing in the first catalog: wait for it
    clock[0] += evaluation.GAP_GRACE + 1
    # the second catalog's id 1 goes missing only now: it is waited for in turn, although
    # the first catalog's gap at the same id is old enough to pass
    assert second.settled(0, [2, 3]) == 0
    assert first.settled(0, [2, 3]) == 3
    clock[0] += evaluation.GAP_GRACE + 1
    assert second.settled(0, [2, 3]) == 3
    first.catalog.close()
    second.catalog.close()
