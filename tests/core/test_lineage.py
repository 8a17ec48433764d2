"""The OpenLineage export names this unifier, by package and version, as its producer."""

from __future__ import annotations

import importlib.metadata

from unifier.lineage import to_openlineage
from unifier.model import EventType, RunEvent, RunState, utcnow


def test_the_producer_is_the_unifier_package_at_its_installed_version():
    event = RunEvent(event_type=EventType.COMPLETE, event_time=utcnow(), job="cron://host1/backup",
                     run_id="r1", state=RunState.SUCCEEDED)
    exported = to_openlineage(event)
    version = importlib.metadata.version("unifier")
    assert exported["producer"] == f"https://pypi.org/project/unifier/{version}/"
    assert exported["run"]["facets"]["unifier_run"]["_producer"] == exported["producer"]
    assert exported["job"] == {"namespace": "cron://host1", "name": "backup"}
