"""The service layer: every operation unifier offers, taking a principal.

The HTTP API, the local CLI (as :data:`~unifier.auth.LOCAL_ADMIN`) and any future entry
point (MCP tools, zone agents) call a :class:`Service`; a route or command never
checks a permission itself, so no entry point is more permissive than another.

    Service(catalog, principal, source="10.0.0.7")
      reads  (ReadOps)   status jobs job runs run instances events triggers firings graph next why
      acts   (ActOps)    trigger refresh_run cancel logs pause resume approvals approve reject
      admin  (AdminOps)  validate apply plan create_token tokens revoke_token audit_entries
                         verify_audit prune_audit
"""

from unifier.service.acts import ActOps, Decision, TriggerOutcome
from unifier.service.admin import AdminOps, prune_audit
from unifier.service.reads import ReadOps, WhyAnswer


class Service(ActOps, AdminOps, ReadOps):
    """Every operation, as one principal."""


__all__ = ["Decision", "Service", "TriggerOutcome", "WhyAnswer", "prune_audit"]
