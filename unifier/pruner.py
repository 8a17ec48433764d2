"""Enforcing :class:`~unifier.retention.Retention`: the stored document and the pruner.

The leader's control loop calls :meth:`Pruner.step` each cycle, in a worker thread; a
step deletes at most ``batch`` rows per table, each table in its own short transaction,
so a large backlog never holds the catalog's write lock for long and spreads over
cycles. Audit entries (pruned so that the hash chain stays verifiable) and the
cron/Terraform spool (records and logs) have their settings in the same document; their
pruning is wired where the audit chain and the spool live.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select

from unifier.apply import Applier
from unifier.catalog import Catalog
from unifier.catalog.tables import CursorRow, FiringRow, JobRow, LatestRunRow, RetentionRow, RunEventRow, RunRow
from unifier.model import utcnow
from unifier.retention import Retention

log = logging.getLogger("unifier.retention")

TERMINAL_FIRINGS = ("issued", "failed")  # a pending firing is never pruned: it has work left
EVALUATE_CURSOR = "evaluate"  # run events the trigger evaluation has not read yet are kept


# ---------------------------------------------------------------------- stored


def stored_retention(catalog: Catalog) -> Retention | None:
    """The retention in force: the first Retention document by name, if any."""
    with catalog.session() as s:
        spec = s.scalar(select(RetentionRow.spec).order_by(RetentionRow.name).limit(1))
    if spec is None:
        return None
    return Retention.model_validate({k: v for k, v in spec.items() if k != "base_dir"})


def _existing(catalog: Catalog) -> dict[str, str]:
    with catalog.session() as s:
        return dict(s.execute(select(RetentionRow.name, RetentionRow.spec_hash)).all())


def _put(catalog: Catalog, item: Any) -> str:
    with catalog.session() as s:
        row = s.get(RetentionRow, item.name)
        if row is None:
            s.add(RetentionRow(name=item.name, spec=item.stored_spec(), spec_hash=item.spec_hash(),
                               source=item.location, updated_at=utcnow()))
            return "created"
        if row.spec_hash == item.spec_hash():
            return "unchanged"
        row.spec, row.spec_hash, row.source, row.updated_at = (
            item.stored_spec(), item.spec_hash(), item.location, utcnow())
        return "configured"


def _delete(catalog: Catalog, name: str) -> None:
    with catalog.session() as s:
        s.execute(delete(RetentionRow).where(RetentionRow.name == name))


RETENTION_APPLIER = Applier(kind="Retention", existing=_existing, put=_put, delete=_delete)


# ---------------------------------------------------------------------- pruning


@dataclass
class PruneReport:
    deleted: dict[str, int] = field(default_factory=dict)  # table -> rows deleted by this step
    more: bool = False  # a table hit the batch limit: the next step continues at once


class Pruner:
    """Deletes history older than the stored :class:`Retention`, a batch at a time."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._next_at = 0.0  # time.monotonic() of the next step that does work

    def step(self, now: datetime | None = None, *, force: bool = False) -> PruneReport:
        """One round over the tables: at most ``batch`` rows each. Does nothing until the
        retention's ``interval`` has passed since the last round that left no backlog."""
        report = PruneReport()
        if not force and time.monotonic() < self._next_at:
            return report
        policy = stored_retention(self.catalog)
        if policy is None:
            self._next_at = time.monotonic() + Retention().interval.total_seconds()
            return report
        now = now or utcnow()
        for table, prune, keep in (("run_events", self._run_events, policy.run_events),
                                   ("runs", self._removed_job_runs, policy.removed_job_runs),
                                   ("firings", self._firings, policy.firings)):
            if keep is None:
                continue
            deleted = prune(now - keep, policy.batch)
            report.deleted[table] = deleted
            report.more = report.more or deleted >= policy.batch
        if any(report.deleted.values()):
            log.info("pruned %s", ", ".join(f"{n} {t}" for t, n in report.deleted.items() if n))
        self._next_at = 0.0 if report.more else time.monotonic() + policy.interval.total_seconds()
        return report

    def _run_events(self, before: datetime, batch: int) -> int:
        with self.catalog.session() as s:
            read_up_to = s.scalar(select(CursorRow.position).where(CursorRow.name == EVALUATE_CURSOR)) or 0
            ids = s.scalars(select(RunEventRow.id)
                            .where(RunEventRow.recorded_at < before, RunEventRow.id <= read_up_to)
                            .order_by(RunEventRow.recorded_at).limit(batch)).all()
            if ids:
                s.execute(delete(RunEventRow).where(RunEventRow.id.in_(ids)))
            return len(ids)

    def _removed_job_runs(self, before: datetime, batch: int) -> int:
        with self.catalog.session() as s:
            found = s.execute(select(RunRow.id, RunRow.job)
                              .join(JobRow, JobRow.uri == RunRow.job)
                              .where(JobRow.removed_at.is_not(None), JobRow.removed_at < before)
                              .order_by(RunRow.id).limit(batch)).all()
            if not found:
                return 0
            s.execute(delete(RunRow).where(RunRow.id.in_([r.id for r in found])))
            jobs = sorted({r.job for r in found})
            # a job whose runs are all gone has no latest run any more
            s.execute(delete(LatestRunRow).where(
                LatestRunRow.job.in_(jobs), ~exists().where(RunRow.job == LatestRunRow.job)))
            return len(found)

    def _firings(self, before: datetime, batch: int) -> int:
        with self.catalog.session() as s:
            ids = s.scalars(select(FiringRow.id)
                            .where(FiringRow.status.in_(TERMINAL_FIRINGS), FiringRow.updated_at < before)
                            .order_by(FiringRow.updated_at).limit(batch)).all()
            if ids:
                s.execute(delete(FiringRow).where(FiringRow.id.in_(ids)))
            return len(ids)
