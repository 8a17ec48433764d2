"""Who is asking: a principal, its subjects and its grants.

A principal's grants add up: the role and scope of its own token, and every
AccessPolicy that names one of its subjects. A permission on a job is held when some
grant carries the permission and its scope covers the job; a job is *visible* when
some grant covers it (every role reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from unifier.auth.roles import ALL, ROLE_PERMISSIONS, ZONE_SCOPE_PREFIX, Permission, Role, matches


@dataclass(frozen=True)
class Grant:
    role: Role
    scopes: tuple[str, ...] = ALL
    source: str = ""  # "token:alice", "policy/team-a-operators"

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]


@dataclass(frozen=True)
class Principal:
    name: str  # the actor written to the audit log: token name or OIDC subject
    subjects: tuple[str, ...] = ()  # token:NAME, user:SUB, group:NAME
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    @property
    def roles(self) -> list[str]:
        return sorted({g.role.value for g in self.grants})

    def can(self, permission: Permission, job: str | None = None) -> bool:
        """``job=None`` asks for the permission anywhere (a route then filters by scope)."""
        return any(permission in g.permissions and (job is None or matches(g.scopes, job))
                   for g in self.grants)

    def can_everywhere(self, permission: Permission) -> bool:
        return any(permission in g.permissions and "*" in g.scopes for g in self.grants)

    def sees(self, job: str) -> bool:
        return self.can(Permission.READ, job)

    @property
    def unscoped(self) -> bool:
        """Sees every job: listings need no filter."""
        return self.can_everywhere(Permission.READ)

    def read_scope(self) -> Sequence[str] | None:
        """The job patterns this principal may see; ``None`` means all (the shape the
        catalog's ``scope=`` listing parameter takes)."""
        if self.unscoped:
            return None
        return sorted({p for g in self.grants if Permission.READ in g.permissions for p in g.scopes})

    def agent_zones(self) -> list[str]:
        """The zones an agent token serves (``zone:NAME`` scopes of its agent grants)."""
        return sorted({p[len(ZONE_SCOPE_PREFIX):] for g in self.grants if g.role == Role.AGENT
                       for p in g.scopes if p.startswith(ZONE_SCOPE_PREFIX)})

    def visible(self, jobs: Iterable[str]) -> list[str]:
        return [j for j in jobs if self.sees(j)]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "subjects": list(self.subjects), "roles": self.roles,
                "grants": [{"role": g.role.value, "scopes": list(g.scopes), "source": g.source}
                           for g in self.grants]}


def _local_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


# the local CLI: whoever can open the catalog already holds everything in it; the audit
# names the operating-system user
LOCAL_ADMIN = Principal(name=f"local:{_local_user()}", subjects=("local",),
                        grants=(Grant(Role.ADMIN, ALL, "local"),))
