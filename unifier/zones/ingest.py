"""Applying an agent's outbox: in sequence order, each message exactly once.

The agent numbers its messages 1, 2, 3, ... and resends everything above the last
acknowledged number until it is acknowledged. Here a message at or below the agent's
``last_seq`` is a duplicate and ignored; the next one is applied and ``last_seq``
moves to it (a compare-and-set, so two requests racing cannot both apply it); one
further ahead means a gap, and everything from it on is refused until the missing
message arrives. Applying is idempotent (runs merge, jobs upsert, the first answer to
a work item wins), so a crash between applying and moving ``last_seq`` costs a
harmless re-apply, never a loss.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update

from unifier.catalog import Catalog
from unifier.model import JobRef, utcnow
from unifier.zones import queue
from unifier.zones.identity import AgentIdentity
from unifier.zones.lease import touch_agent
from unifier.zones.tables import ZoneAgentRow, rows_changed
from unifier.zones.wire import JobsMessage, OutboxMessage, Refused, ResultMessage, RunsMessage, SyncMessage

log = logging.getLogger("unifier.zones")


@dataclass
class IngestReport:
    acked_seq: int
    gap_at: int | None = None  # the sequence number the control plane waits for
    refused: list[Refused] = field(default_factory=list)
    instances: set[str] = field(default_factory=set)  # that got new runs: wake the loop


def zone_instances(catalog: Catalog, zone: str) -> set[str]:
    return {s.instance.name for s in catalog.list_instances() if s.spec.get("zone") == zone}


def ingest(catalog: Catalog, agent: AgentIdentity, messages: Sequence[OutboxMessage]) -> IngestReport:
    with catalog.session() as s:
        last = touch_agent(s, agent, utcnow()).last_seq
    report = IngestReport(acked_seq=last)
    mine = zone_instances(catalog, agent.zone)
    for message in sorted(messages, key=lambda m: m.seq):
        if message.seq <= report.acked_seq:
            continue  # delivered before: its answer was lost on the way back
        if message.seq > report.acked_seq + 1:
            report.gap_at = report.acked_seq + 1
            break
        reason = _apply(catalog, agent.zone, mine, message, report)
        if reason:
            report.refused.append(Refused(seq=message.seq, reason=reason))
            log.warning("zone %s agent %s: message %d refused: %s", agent.zone, agent.name,
                        message.seq, reason)
        with catalog.session() as s:
            moved = s.execute(update(ZoneAgentRow)
                              .where(ZoneAgentRow.agent_id == agent.agent_id,
                                     ZoneAgentRow.last_seq == message.seq - 1)
                              .values(last_seq=message.seq).execution_options(synchronize_session=False))
        if not rows_changed(moved):  # another request applied it meanwhile: stop here
            break
        report.acked_seq = message.seq
    return report


def _apply(catalog: Catalog, zone: str, mine: set[str], message: OutboxMessage,
           report: IngestReport) -> str | None:
    """Apply one message; the reason it is refused, or None."""
    if isinstance(message, ResultMessage):
        payload: dict[str, Any] = {"run": message.run.model_dump(mode="json")} if message.run else {}
        if message.text is not None:
            payload["text"] = message.text
        queue.finish(catalog, zone, message.work_id, ok=message.ok, result=payload,
                     error=message.error, error_type=message.error_type, retryable=message.retryable)
        return None
    if message.instance not in mine:
        return f"instance {message.instance!r} is not served by zone {zone!r}"
    if isinstance(message, JobsMessage):
        strays = [j.uri for j in message.jobs if j.instance != message.instance]
        if strays:
            return f"jobs of another instance: {strays[:3]}"
        catalog.upsert_jobs(message.instance, message.jobs, complete=message.complete)
        catalog.update_sync_state(message.instance, last_discovered_at=message.at)
    elif isinstance(message, RunsMessage):
        strays = [r.job for r in message.runs if _instance_of(r.job) != message.instance]
        if strays:
            return f"runs of another instance: {strays[:3]}"
        catalog.record_runs(message.runs)
        catalog.update_sync_state(message.instance, last_sync_at=message.at,
                                  last_observed_at=message.at, last_error=None)
        report.instances.add(message.instance)
    elif isinstance(message, SyncMessage):
        fields: dict[str, object] = {"last_sync_at": message.at, "last_error": message.error,
                                     "health": message.health}
        if message.ok:
            fields["last_observed_at"] = message.at
        catalog.update_sync_state(message.instance, **fields)
    return None


def _instance_of(uri: str) -> str | None:
    try:
        return JobRef.parse(uri).instance
    except ValueError:
        return None
