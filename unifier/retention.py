"""Retention: how long history is kept, and the pruner that enforces it.

Declared as a document and applied like any other::

    apiVersion: unifier/v1
    kind: Retention
    metadata: {name: default}
    spec:
      run_events: 90d
      removed_job_runs: 30d
      firings: 90d

Without a Retention document nothing is pruned. With several, the first by name
counts. :mod:`unifier.pruner` stores the document and enforces it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from unifier.config.documents import Document
from unifier.duration import Duration


class Retention(BaseModel):
    """How long unifier keeps history. A setting left out keeps its default; ``null``
    keeps that history forever."""

    model_config = ConfigDict(extra="forbid")

    run_events: Duration | None = Field(
        default=timedelta(days=90),
        description="run events (the state-change history) older than this are deleted; "
                    "events the trigger evaluation has not read yet are always kept")
    removed_job_runs: Duration | None = Field(
        default=timedelta(days=30),
        description="runs of jobs removed from their tool longer ago than this are deleted")
    firings: Duration | None = Field(
        default=timedelta(days=90),
        description="finished firings (issued or failed) last changed longer ago than this are "
                    "deleted from the ledger; pending ones never are")
    audit: Duration | None = Field(
        default=None,
        description="audit entries older than this are deleted from the start of the log, "
                    "keeping its hash chain verifiable; null keeps the whole log")
    spool_records: Duration | None = Field(
        default=timedelta(days=30),
        description="cron/Terraform spool records of finished runs older than this are deleted")
    spool_logs: Duration | None = Field(
        default=timedelta(days=14),
        description="cron/Terraform run logs older than this are deleted")
    batch: int = Field(default=1000, ge=1, le=100_000,
                       description="at most this many rows deleted per table per prune step")
    interval: Duration = Field(default=timedelta(minutes=1),
                               description="how often the leader prunes while there is no backlog")


class RetentionDocument(Document):
    kind: Literal["Retention"]
    spec: Retention = Field(default_factory=Retention)

