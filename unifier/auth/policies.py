"""``kind: AccessPolicy`` and ``kind: ApprovalPolicy``: who may do what, and which jobs
wait for a human. Applied with ``unifier apply`` like every other kind and kept in the
catalog's ``policies`` table, spec as written::

    kind: AccessPolicy
    spec: {subjects: [token:alice, group:team-a-oncall], role: operator,
           scope: ["jenkins://ci/team-a/*"]}          # default: every job

    kind: ApprovalPolicy
    spec: {jobs: ["terraform://infra/*"], approvers: [group:infra-leads, token:bob],
           required: 1, timeout: 4h}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from unifier.apply import Applier
from unifier.auth.roles import ALL, Role, matches
from unifier.catalog import Catalog
from unifier.catalog.tables import PolicyRow
from unifier.config.loader import Loaded
from unifier.duration import parse_duration
from unifier.model import utcnow

# ---------------------------------------------------------------------- stored policies


@dataclass(frozen=True)
class AccessPolicy:
    name: str
    subjects: tuple[str, ...]
    role: Role
    scope: tuple[str, ...]


@dataclass(frozen=True)
class ApprovalPolicy:
    name: str
    jobs: tuple[str, ...]
    approvers: tuple[str, ...]
    required: int
    timeout: timedelta

    def guards(self, job: str) -> bool:
        return matches(self.jobs, job)


def access_policies(s: Session) -> list[AccessPolicy]:
    rows = s.scalars(select(PolicyRow).where(PolicyRow.kind == "AccessPolicy").order_by(PolicyRow.name))
    return [AccessPolicy(r.name, tuple(r.spec["subjects"]), Role(r.spec["role"]),
                         tuple(r.spec.get("scope") or ALL)) for r in rows]


def approval_policies(s: Session) -> list[ApprovalPolicy]:
    rows = s.scalars(select(PolicyRow).where(PolicyRow.kind == "ApprovalPolicy").order_by(PolicyRow.name))
    return [ApprovalPolicy(r.name, tuple(r.spec["jobs"]), tuple(r.spec["approvers"]),
                           int(r.spec.get("required", 1)), parse_duration(r.spec.get("timeout", "4h")))
            for r in rows]


def approval_policy_for(s: Session, job: str) -> ApprovalPolicy | None:
    """The first policy (by name) guarding ``job``; ``None`` when it runs without approval."""
    return next((p for p in approval_policies(s) if p.guards(job)), None)


def _applier(kind: str) -> Applier:
    def existing(catalog: Catalog) -> dict[str, str]:
        with catalog.session() as s:
            return dict(s.execute(select(PolicyRow.name, PolicyRow.spec_hash).where(PolicyRow.kind == kind)).all())

    def put(catalog: Catalog, item: Loaded) -> str:
        spec = dict(item.source.data.get("spec") or {})
        with catalog.session() as s:
            row = s.get(PolicyRow, (kind, item.name))
            if row is None:
                s.add(PolicyRow(kind=kind, name=item.name, spec=spec, spec_hash=item.spec_hash(),
                                source=item.location, updated_at=utcnow()))
                return "created"
            if row.spec_hash == item.spec_hash():
                return "unchanged"
            row.spec, row.spec_hash, row.source, row.updated_at = spec, item.spec_hash(), item.location, utcnow()
            return "configured"

    def remove(catalog: Catalog, name: str) -> None:
        with catalog.session() as s:
            s.execute(delete(PolicyRow).where(PolicyRow.kind == kind, PolicyRow.name == name))

    return Applier(kind=kind, existing=existing, put=put, delete=remove)


ACCESS_POLICY_APPLIER = _applier("AccessPolicy")
APPROVAL_POLICY_APPLIER = _applier("ApprovalPolicy")
