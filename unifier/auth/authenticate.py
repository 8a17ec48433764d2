"""From a bearer credential to a :class:`Principal`.

API tokens are tried first (``unf_...``: one indexed lookup by hash), then the optional
OIDC verifier (any object with ``verify(token) -> identity`` where the identity has
``subject`` and ``groups``; the server uses :class:`unifier.auth.oidc.OIDCVerifier`
configured by ``UNIFIER_OIDC_*``, :func:`oidc_from_env`). A key set that cannot be read
(:class:`~unifier.auth.oidc.JWKSUnavailable`) is the server's trouble: 503. An OIDC identity
becomes the subjects ``user:<sub>`` and ``group:<g>`` for each group; a token NAME
becomes ``token:NAME`` and brings its own role and scopes. Every AccessPolicy naming
one of the subjects adds its grant.

Every failure is :class:`~unifier.errors.Unauthenticated` with a short reason: the API
answers 401, never more detail than needed, never a stack trace.
"""

from __future__ import annotations

from typing import Any, Protocol

from unifier.auth.oidc import JWKSUnavailable, OIDCSettings, OIDCVerifier
from unifier.auth.policies import access_policies
from unifier.auth.principal import Grant, Principal
from unifier.auth.tokens import PREFIX, TokenStore
from unifier.catalog import Catalog
from unifier.errors import Unauthenticated
from unifier.model import utcnow

MAX_CREDENTIAL = 8192  # longer is no token of ours nor a sane JWT


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Any: ...


def oidc_from_env() -> TokenVerifier | None:
    """The identity provider's verifier configured by ``UNIFIER_OIDC_*`` (see
    :meth:`~unifier.auth.oidc.OIDCSettings.from_env`); ``None`` when none is."""
    settings = OIDCSettings.from_env()
    return OIDCVerifier(settings) if settings is not None else None


def bearer(authorization: str | None) -> str:
    """The credential of an ``Authorization: Bearer ...`` header."""
    if not authorization:
        raise Unauthenticated("authentication required: send Authorization: Bearer TOKEN")
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential:
        raise Unauthenticated("malformed Authorization header: expected 'Bearer TOKEN'")
    if len(credential) > MAX_CREDENTIAL:
        raise Unauthenticated("credential too long")
    return credential


class Authenticator:
    def __init__(self, catalog: Catalog, oidc: TokenVerifier | None = None):
        self.catalog = catalog
        self.tokens = TokenStore(catalog)
        self.oidc = oidc

    def configured(self) -> bool:
        """Is any authentication configured? Without it the API runs open (loopback only)."""
        return self.oidc is not None or self.tokens.any_active()

    def authenticate(self, authorization: str | None) -> Principal:
        credential = bearer(authorization)
        if credential.startswith(PREFIX) or self.oidc is None:
            return self._from_token(credential)
        return self._from_oidc(credential)

    def _from_token(self, credential: str) -> Principal:
        info = self.tokens.lookup(credential)
        if info is None:
            raise Unauthenticated("unknown token")
        if info.revoked_at is not None:
            raise Unauthenticated(f"token {info.name!r} was revoked")
        if info.expires_at is not None and info.expires_at <= utcnow():
            raise Unauthenticated(f"token {info.name!r} expired")
        subject = f"token:{info.name}"
        own = Grant(info.role, info.scopes, subject)
        return self._principal(info.name, (subject,), (own,))

    def _from_oidc(self, credential: str) -> Principal:
        assert self.oidc is not None
        try:
            identity = self.oidc.verify(credential)
        except JWKSUnavailable:
            raise  # no token can be checked now: the server's trouble (503), not the caller's
        except Exception as exc:  # InvalidToken, or whatever a verifier refuses with: 401
            raise Unauthenticated(f"invalid token: {_reason(exc)}") from None
        subjects = (f"user:{identity.subject}", *(f"group:{g}" for g in identity.groups))
        return self._principal(identity.subject, subjects, ())

    def _principal(self, name: str, subjects: tuple[str, ...], grants: tuple[Grant, ...]) -> Principal:
        with self.catalog.session() as s:
            policies = access_policies(s)
        named = set(subjects)
        granted = [Grant(p.role, p.scope, f"policy/{p.name}") for p in policies if named & set(p.subjects)]
        return Principal(name=name, subjects=subjects, grants=(*grants, *granted))


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
