"""The one place where an operation is authorised and audited.

Every operation of :class:`~unifier.service.Service` runs as a principal (who), from a
source (where: a client address, ``cli``). Acts go through :meth:`ServiceBase.act`:
the permission is checked (a refusal is audited ``denied`` and raised as
:class:`~unifier.errors.Forbidden` naming the permission), the work runs, and the
outcome is audited ``ok`` or ``failed``. Reads check :meth:`ServiceBase.require` and
filter by the principal's scope: a scoped principal sees nothing outside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from unifier.auth.principal import Principal
from unifier.auth.roles import Permission
from unifier.catalog import Catalog
from unifier.errors import Forbidden, UnifierError

# detail keys never written to the audit log whatever the caller passes
_SECRET_KEYS = ("token", "secret", "password", "authorization")


def scrub(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: ("<redacted>" if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in detail.items()}


class ServiceBase:
    def __init__(self, catalog: Catalog, principal: Principal, *, source: str | None = None):
        self.catalog = catalog
        self.principal = principal
        self.source = source

    # ------------------------------------------------------------------ authorisation

    def _audit(self, action: str, target: str, outcome: str, detail: dict[str, Any] | None = None) -> None:
        self.catalog.audit(action, target, scrub(detail or {}), actor=self.principal.name,
                           outcome=outcome, source=self.source)

    def _deny(self, permission: Permission, action: str, target: str, job: str | None) -> Forbidden:
        where = f" on {job}" if job else ""
        self._audit(action, target, "denied", {"missing": permission.value})
        return Forbidden(f"{self.principal.name} lacks permission '{permission.value}'{where}",
                         permission=permission.value)

    def require(self, permission: Permission, *, job: str | None = None, everywhere: bool = False,
                action: str | None = None, target: str | None = None) -> None:
        """Raise Forbidden (audited when ``action`` is given) unless the principal holds
        ``permission`` on ``job`` (or anywhere; or on every job with ``everywhere``)."""
        held = (self.principal.can_everywhere(permission) if everywhere
                else self.principal.can(permission, job))
        if held:
            return
        if action is not None:
            raise self._deny(permission, action, target or job or "-", job)
        raise Forbidden(f"{self.principal.name} lacks permission '{permission.value}'"
                        + (f" on {job}" if job else ""), permission=permission.value)

    @contextmanager
    def act(self, permission: Permission, action: str, target: str, *, job: str | None = None,
            everywhere: bool = False, detail: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Authorise, then audit the outcome; the body may add to the yielded detail."""
        self.require(permission, job=job, everywhere=everywhere, action=action, target=target)
        recorded = dict(detail or {})
        try:
            yield recorded
        except UnifierError as exc:
            self._audit(action, target, "failed", {**recorded, "error": str(exc)[:500]})
            raise
        except Exception as exc:
            self._audit(action, target, "failed", {**recorded, "error": type(exc).__name__})
            raise
        self._audit(action, target, "ok", recorded)

    # ------------------------------------------------------------------ scope

    def sees(self, job: str) -> bool:
        return self.principal.sees(job)

    def visible(self, items: Iterable[Any], job_of: Any = lambda item: item.job) -> list[Any]:
        """Items whose job the principal sees (all of them for an unscoped principal)."""
        if self.principal.unscoped:
            return list(items)
        return [i for i in items if self.principal.sees(job_of(i))]

    def require_visible(self, job: str) -> None:
        """A job outside the scope does not exist for this principal (no 403 that would
        confirm it does)."""
        from unifier.errors import NotFound

        self.require(Permission.READ)
        if not self.sees(job):
            raise NotFound(f"no job {job!r} in the catalog")
