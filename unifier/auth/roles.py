"""Roles, the permissions each holds, and scope patterns.

    viewer    read
    operator  viewer + trigger, cancel, pause/resume triggers
    approver  viewer + approve/reject
    admin     everything, including apply and tokens
    agent     nothing but serving one zone as its agent (``unifier agent``); its scope
              is that zone, ``zone:NAME`` (:data:`ZONE_SCOPE_PREFIX`), and matches no job

A scope is a list of job-URI patterns with fnmatch semantics: ``*`` matches any
characters, ``/`` included (``jenkins://ci/team-a/*`` covers every job below that folder).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from fnmatch import fnmatchcase


class Permission(enum.StrEnum):
    READ = "read"
    TRIGGER = "trigger"
    CANCEL = "cancel"
    PAUSE = "pause"  # pause and resume triggers
    APPROVE = "approve"  # approve and reject
    APPLY = "apply"  # apply, validate, plan
    ADMIN = "admin"  # tokens, audit verification and pruning
    SERVE_ZONE = "serve_zone"  # the agent routes: pull a zone's work, push its observations


class Role(enum.StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"
    AGENT = "agent"


ZONE_SCOPE_PREFIX = "zone:"  # an agent token's one scope: the zone it serves

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.TRIGGER, Permission.CANCEL, Permission.PAUSE}),
    Role.APPROVER: frozenset({Permission.READ, Permission.APPROVE}),
    Role.ADMIN: frozenset(Permission),
    Role.AGENT: frozenset({Permission.SERVE_ZONE}),
}

ALL = ("*",)


def matches(patterns: Iterable[str], uri: str) -> bool:
    """Case-sensitive: job URIs are."""
    return any(fnmatchcase(uri, p) for p in patterns)


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        from unifier.errors import InvalidInput

        raise InvalidInput(f"unknown role {value!r} (viewer, operator, approver, admin or agent)") from None
