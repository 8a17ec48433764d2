"""Admin routes: configuration (validate, plan, apply), API tokens, the audit log.

Configuration arrives as the files' texts keyed by their paths (what ``unifier apply
-f`` sends to a remote server); problems name those paths and lines.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from unifier.api.deps import MAX_ID, ServiceDep
from unifier.config.loader import load_texts
from unifier.duration import parse_duration
from unifier.errors import InvalidInput

router = APIRouter(prefix="/api", tags=["admin"])


FilePath = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class ConfigFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: dict[FilePath, str] = Field(min_length=1, max_length=200, description="path -> YAML text")
    prune: bool = False
    dry_run: bool = False
    max_fan_out: int | None = Field(default=None, ge=1, le=100000)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=63)
    role: str = Field(max_length=16)
    scopes: list[str] = Field(default_factory=lambda: ["*"], max_length=100)
    expires: str | None = Field(default=None, max_length=32, description="e.g. 90d")


@router.post("/config/validate")
def validate(body: ConfigFiles, service: ServiceDep) -> list[dict[str, str]]:
    return service.validate(load_texts(body.files))


@router.post("/config/plan")
def plan(body: ConfigFiles, service: ServiceDep) -> dict[str, Any]:
    return service.plan(load_texts(body.files), prune=body.prune, max_fan_out=body.max_fan_out).to_json()


@router.post("/config/apply")
def apply(body: ConfigFiles, service: ServiceDep) -> list[dict[str, Any]]:
    changes = service.apply(load_texts(body.files), prune=body.prune, dry_run=body.dry_run)
    return [{"kind": c.kind, "name": c.name, "action": c.action} for c in changes]


@router.get("/tokens")
def tokens(service: ServiceDep) -> list[dict[str, Any]]:
    return [t.to_json() for t in service.tokens()]


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenRequest, service: ServiceDep) -> dict[str, Any]:
    """The secret is in this answer and nowhere else, ever."""
    try:
        expires = parse_duration(body.expires) if body.expires else None
    except ValueError as exc:
        raise InvalidInput(f"expires: {exc}") from None
    info, secret = service.create_token(body.name, body.role, body.scopes, expires)
    return {"name": info.name, "role": info.role.value, "scopes": list(info.scopes), "token": secret,
            "expires_at": info.expires_at.isoformat() if info.expires_at else None}


@router.delete("/tokens/{name}")
def revoke_token(name: str, service: ServiceDep) -> dict[str, Any]:
    return service.revoke_token(name).to_json()


@router.get("/audit")
def audit(service: ServiceDep, limit: int = Query(default=50, ge=1, le=10000),
          after: int = Query(default=0, ge=0, le=MAX_ID),
          actor: str | None = Query(default=None, max_length=255),
          action: str | None = Query(default=None, max_length=64)) -> list[dict[str, Any]]:
    """The audit log, newest first (``unifier audit -o json``)."""
    return service.audit_entries(limit=limit, after=after, actor=actor, action=action)


@router.get("/audit/verify")
def verify(service: ServiceDep) -> dict[str, Any]:
    """Walk the hash chain: ``ok`` false names the first altered or deleted entry."""
    return service.verify_audit().to_json()
