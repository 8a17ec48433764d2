"""API tokens: created with a role and scopes, shown once, kept only as a SHA-256.

A token reads ``unf_<random>``; 32 random bytes make a plain SHA-256 enough (no
dictionary to guess from), and a lookup by hash needs no per-token salt.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from unifier.auth.roles import ALL, ZONE_SCOPE_PREFIX, Role, parse_role
from unifier.catalog import Catalog
from unifier.catalog.tables import ApiTokenRow
from unifier.errors import InvalidInput, NotFound
from unifier.model import NAME_RE, as_utc, utcnow

PREFIX = "unf_"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: Role
    scopes: tuple[str, ...]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def to_json(self) -> dict[str, Any]:
        """As ``unifier token list -o json``: never the secret."""
        return {"name": self.name, "role": self.role.value, "scopes": list(self.scopes),
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "state": "revoked" if self.revoked_at else ("active" if self.active() else "expired")}


def _utc(value: datetime) -> datetime:
    converted = as_utc(value)
    assert converted is not None  # a non-null column
    return converted


def _info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(row.name, Role(row.role), tuple(row.scopes), _utc(row.created_at), row.created_by,
                     as_utc(row.expires_at) if row.expires_at else None,
                     as_utc(row.revoked_at) if row.revoked_at else None)


def _checked_scopes(role: Role, scopes: list[str] | None) -> list[str] | None:
    """An agent token serves exactly one zone (``zone:NAME``, from ``--zone``); no other
    role takes a zone."""
    zones = [s for s in scopes or () if s.startswith(ZONE_SCOPE_PREFIX)]
    if role != Role.AGENT:
        if zones:
            raise InvalidInput(f"--zone is for --role agent only, not {role.value}")
        return scopes
    zone = zones[0][len(ZONE_SCOPE_PREFIX):] if len(zones) == 1 and len(scopes or ()) == 1 else ""
    if not NAME_RE.fullmatch(zone) or len(zone) > 63:
        raise InvalidInput("an agent token serves one zone: give --zone ZONE (and no --scope)")
    return [f"{ZONE_SCOPE_PREFIX}{zone}"]


class TokenStore:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def create(self, name: str, role: str, scopes: list[str] | None, expires_in: timedelta | None,
               created_by: str) -> tuple[TokenInfo, str]:
        """Returns the token and its secret (the only time the secret exists outside the caller)."""
        if not NAME_RE.fullmatch(name) or len(name) > 63:
            raise InvalidInput(f"token name {name!r}: lower-case letters, digits and '-'")
        parsed = parse_role(role)
        scopes = _checked_scopes(parsed, scopes)
        if expires_in is not None and expires_in <= timedelta(0):
            raise InvalidInput("--expires must be positive")
        secret = PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        with self.catalog.session() as s:
            existing = s.get(ApiTokenRow, name)
            if existing is not None and existing.revoked_at is None:
                raise InvalidInput(f"token {name!r} exists (revoke it first)")
            if existing is not None:
                s.delete(existing)
                s.flush()
            row = ApiTokenRow(name=name, token_hash=hash_token(secret), role=parsed.value,
                              scopes=list(scopes or ALL), created_at=now, created_by=created_by,
                              expires_at=now + expires_in if expires_in else None, revoked_at=None)
            s.add(row)
            return _info(row), secret

    def list(self) -> list[TokenInfo]:
        with self.catalog.session() as s:
            return [_info(r) for r in s.scalars(select(ApiTokenRow).order_by(ApiTokenRow.name))]

    def revoke(self, name: str) -> TokenInfo:
        with self.catalog.session() as s:
            row = s.get(ApiTokenRow, name)
            if row is None:
                raise NotFound(f"no token named {name!r} (see `unifier token list`)")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return _info(row)

    def lookup(self, secret: str) -> TokenInfo | None:
        """The token this secret belongs to, active or not; ``None`` when unknown."""
        with self.catalog.session() as s:
            row = s.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(secret)))
            return _info(row) if row else None

    def any_active(self) -> bool:
        """Is authentication configured through tokens? (decides whether the API may run open)"""
        now = utcnow()
        with self.catalog.session() as s:
            return bool(s.scalar(select(func.count()).select_from(ApiTokenRow).where(
                ApiTokenRow.revoked_at.is_(None),
                (ApiTokenRow.expires_at.is_(None)) | (ApiTokenRow.expires_at > now))))
