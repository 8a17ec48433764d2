"""Administration: configuration (apply, plan, validate), API tokens, the audit log.
All of it needs the admin role over every job (an unscoped grant)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from unifier.apply import Change, apply, plan_apply
from unifier.auth.roles import Permission
from unifier.auth.tokens import TokenInfo, TokenStore
from unifier.catalog import audit as audit_log
from unifier.catalog.tables import AuditRow
from unifier.config import ConfigSet
from unifier.plan import Plan
from unifier.service.base import ServiceBase


class AdminOps(ServiceBase):
    # ------------------------------------------------------------------ configuration

    def validate(self, config: ConfigSet) -> list[dict[str, str]]:
        self.require(Permission.APPLY, everywhere=True)
        return [{"kind": d.kind, "name": d.name, "location": d.location} for d in config.documents]

    def apply(self, config: ConfigSet, *, prune: bool = False, dry_run: bool = False) -> list[Change]:
        from unifier.plan import refuse_cycles

        action = "apply.plan" if dry_run else "apply"
        with self.act(Permission.APPLY, action, "configuration", everywhere=True,
                      detail={"documents": len(config.documents), "prune": prune}) as detail:
            refuse_cycles(self.catalog, config, prune=prune)
            if dry_run:
                return plan_apply(self.catalog, config, prune=prune)
            changes = apply(self.catalog, config, prune=prune, actor=self.principal.name, source=self.source)
            detail["changed"] = [str(c) for c in changes if c.action != "unchanged"]
            return changes

    def plan(self, config: ConfigSet, *, prune: bool = False, max_fan_out: int | None = None) -> Plan:
        from unifier.plan import DEFAULT_MAX_FAN_OUT, build_plan

        self.require(Permission.APPLY, everywhere=True)
        return build_plan(self.catalog, config, prune=prune,
                          max_fan_out=DEFAULT_MAX_FAN_OUT if max_fan_out is None else max_fan_out)

    # ------------------------------------------------------------------ tokens

    def create_token(self, name: str, role: str, scopes: list[str] | None,
                     expires_in: timedelta | None) -> tuple[TokenInfo, str]:
        with self.act(Permission.ADMIN, "token.create", f"token/{name}", everywhere=True,
                      detail={"role": role, "scopes": scopes or ["*"]}):
            return TokenStore(self.catalog).create(name, role, scopes, expires_in, self.principal.name)

    def tokens(self) -> list[TokenInfo]:
        self.require(Permission.ADMIN, everywhere=True)
        return TokenStore(self.catalog).list()

    def revoke_token(self, name: str) -> TokenInfo:
        with self.act(Permission.ADMIN, "token.revoke", f"token/{name}", everywhere=True):
            return TokenStore(self.catalog).revoke(name)

    # ------------------------------------------------------------------ audit

    def audit_entries(self, *, limit: int = 50, after: int = 0, actor: str | None = None,
                      action: str | None = None) -> list[dict[str, Any]]:
        """Newest first, as ``unifier audit -o json``."""
        self.require(Permission.ADMIN, everywhere=True)
        with self.catalog.session() as s:
            query = select(AuditRow).where(AuditRow.id > after)
            if actor:
                query = query.where(AuditRow.actor == actor)
            if action:
                query = query.where(AuditRow.action == action)
            return [audit_log.entry_view(r) for r in s.scalars(query.order_by(AuditRow.id.desc()).limit(limit))]

    def verify_audit(self) -> audit_log.Verification:
        self.require(Permission.ADMIN, everywhere=True)
        with self.catalog.session() as s:
            return audit_log.verify(s)

    def prune_audit(self, older_than: datetime, batch: int = 1000) -> int:
        with self.act(Permission.ADMIN, "audit.prune", "audit", everywhere=True,
                      detail={"older_than": older_than.isoformat()}) as detail:
            detail["pruned"] = pruned = prune_audit(self.catalog, older_than, batch)
            return pruned


def prune_audit(catalog: Any, older_than: datetime, batch: int = 1000) -> int:
    """Delete audit entries older than ``older_than``, ``batch`` per transaction, keeping
    the chain verifiable (the anchor records the last pruned entry's hash)."""
    total = 0
    while True:
        with catalog.session() as s:
            removed = audit_log.prune(s, older_than, batch)
        total += removed
        if removed < batch:
            return total
