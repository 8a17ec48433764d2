"""The audit log: append-only and hash-chained, so an edited or deleted entry shows.

Each entry's ``hash`` is the SHA-256 of its content (:func:`entry_hash`) and the hash of
the entry before it (``prev_hash``); ids run without gaps. The single ``audit_head`` row
holds the last id and hash (a deleted newest entry shows too) and the *anchor*: the id
and hash of the last entry removed by :func:`prune_audit`, where verification starts.

Appending locks the head row first (an UPDATE), so writers in several processes chain
one after the other on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from unifier.catalog.tables import AuditHeadRow, AuditRow
from unifier.model import as_utc, utcnow

HEAD_ID = 1
OUTCOMES = ("ok", "denied", "failed")


def entry_hash(entry_id: int, at: datetime, actor: str, action: str, target: str,
               outcome: str, source: str | None, detail: dict[str, Any], prev_hash: str) -> str:
    """Canonical JSON of every field: the same entry always hashes the same, whatever
    database returned it (datetimes in UTC ISO 8601, keys sorted)."""
    body = json.dumps([entry_id, _utc(at).isoformat(timespec="microseconds"), actor, action, target,
                       outcome, source, detail, prev_hash], sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _utc(value: datetime) -> datetime:
    converted = as_utc(value)
    assert converted is not None  # `at` is never null
    return converted


def row_hash(row: AuditRow) -> str:
    return entry_hash(row.id, row.at, row.actor, row.action, row.target, row.outcome, row.source,
                      row.detail, row.prev_hash)


def _lock_head(s: Session) -> AuditHeadRow:
    # the UPDATE takes the write lock (SQLite) / row lock (PostgreSQL) before we read
    result: Any = s.execute(update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID)
                            .values(last_id=AuditHeadRow.last_id))
    locked = result.rowcount
    if not locked:
        s.add(AuditHeadRow(id=HEAD_ID, last_id=0, last_hash="", anchor_id=0, anchor_hash=""))
        s.flush()
    head = s.get(AuditHeadRow, HEAD_ID, populate_existing=True)
    assert head is not None
    return head


def append(s: Session, *, actor: str, action: str, target: str, detail: dict[str, Any] | None = None,
           outcome: str = "ok", source: str | None = None, at: datetime | None = None) -> int:
    """Append one entry inside the caller's transaction; returns its id."""
    head = _lock_head(s)
    entry_id = head.last_id + 1
    at = at or utcnow()
    detail = json.loads(json.dumps(detail or {}, default=str))  # as the database will return it
    digest = entry_hash(entry_id, at, actor, action, target, outcome, source, detail, head.last_hash)
    s.add(AuditRow(id=entry_id, at=at, actor=actor, action=action, target=target, detail=detail,
                   outcome=outcome, source=source, prev_hash=head.last_hash, hash=digest))
    head.last_id, head.last_hash = entry_id, digest
    return entry_id


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    problem: str | None = None
    entry: int | None = None  # the first altered or missing entry

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "problem": self.problem, "entry": self.entry}


def verify(s: Session, batch: int = 1000) -> Verification:
    """Walk the chain from the anchor to the head; the first break is reported."""
    head = s.get(AuditHeadRow, HEAD_ID) or AuditHeadRow(id=HEAD_ID, last_id=0, last_hash="",
                                                        anchor_id=0, anchor_hash="")
    expected_id, prev = head.anchor_id + 1, head.anchor_hash
    checked = 0
    while True:
        rows = list(s.scalars(select(AuditRow).where(AuditRow.id >= expected_id)
                              .order_by(AuditRow.id).limit(batch)))
        for row in rows:
            if row.id != expected_id:
                return Verification(False, checked, f"entry {expected_id} was deleted", expected_id)
            if row.prev_hash != prev or row_hash(row) != row.hash:
                return Verification(False, checked, f"entry {row.id} was altered", row.id)
            prev, expected_id, checked = row.hash, expected_id + 1, checked + 1
        if len(rows) < batch:
            break
    if head.last_id >= expected_id:
        return Verification(False, checked, f"entry {expected_id} was deleted", expected_id)
    if head.last_id and head.last_hash != prev:
        return Verification(False, checked, f"entry {head.last_id} was altered", head.last_id)
    return Verification(True, checked)


def prune(s: Session, older_than: datetime, batch: int = 1000) -> int:
    """Delete up to ``batch`` of the oldest entries before ``older_than``, moving the
    anchor to the last one deleted, in one transaction; returns how many went."""
    head = _lock_head(s)
    rows = list(s.execute(select(AuditRow.id, AuditRow.hash)
                          .where(AuditRow.id > head.anchor_id, AuditRow.at < older_than)
                          .order_by(AuditRow.id).limit(batch)))
    # only a run without gaps from the anchor on: pruning must not hide a deletion
    contiguous: list[tuple[int, str]] = []
    for entry_id, digest in rows:
        if entry_id != head.anchor_id + len(contiguous) + 1:
            break
        contiguous.append((entry_id, digest))
    if not contiguous:
        return 0
    last_id, last_hash = contiguous[-1]
    s.execute(delete(AuditRow).where(AuditRow.id > head.anchor_id, AuditRow.id <= last_id))
    head.anchor_id, head.anchor_hash = last_id, last_hash
    return len(contiguous)


def entry_view(row: AuditRow) -> dict[str, Any]:
    """As ``unifier audit -o json`` and ``GET /api/audit``."""
    return {"id": row.id, "at": _utc(row.at).isoformat(), "actor": row.actor, "action": row.action,
            "target": row.target, "outcome": row.outcome, "source": row.source, "details": row.detail}
