"""How fresh each instance's data is: its health row plus its poll interval and whether
the data it last delivered (its last successful sync) is older than twice that interval
(stale: what is shown of it may be out of date, whatever state it claims). A failing
sync is contact, not data: it does not make the data fresh."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from unifier.catalog import Catalog
from unifier.errors import UnifierError
from unifier.instances import poll_interval
from unifier.model import as_utc, utcnow
from unifier.status import InstanceRow, instance_rows

STALE_AFTER_POLLS = 2  # a sync may be late by one interval before its data counts as stale


class InstanceFreshness(InstanceRow):
    poll_interval_seconds: float | None = Field(
        description="seconds between syncs, from the instance's spec (None: the spec does not parse)")
    stale: bool = Field(description="no successful sync yet, or the last one more than twice the poll interval ago")
    stale_since: datetime | None = Field(
        description="when the data became (or becomes) stale: last successful sync + twice the poll interval")


def instance_freshness(catalog: Catalog, now: datetime | None = None) -> list[InstanceFreshness]:
    now = now or utcnow()
    intervals: dict[str, timedelta | None] = {}
    for stored in catalog.list_instances():
        try:
            intervals[stored.instance.name] = poll_interval(stored)
        except (UnifierError, ValueError):  # a spec that no longer validates: its row says unhealthy anyway
            intervals[stored.instance.name] = None
    rows = []
    for row in instance_rows(catalog):
        interval = intervals.get(row.name)
        last = as_utc(row.last_observed_at)
        stale_since = last + STALE_AFTER_POLLS * interval if last and interval else None
        rows.append(InstanceFreshness(
            **row.model_dump(), poll_interval_seconds=interval.total_seconds() if interval else None,
            stale=last is None or (stale_since is not None and stale_since < now), stale_since=stale_since))
    return rows
