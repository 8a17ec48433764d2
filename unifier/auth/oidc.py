"""OIDC bearer tokens: JWTs signed by the company's identity provider.

:class:`OIDCVerifier` checks a token's signature against the provider's published keys
(a JWKS, from a URL or a file), its issuer, audience and validity window, and returns
who it names (``sub``) and the groups it carries (the ``groups`` claim, name
configurable), which access policies name as ``group:NAME``.

Errors, both :class:`~unifier.errors.UnifierError`:

    InvalidToken      the caller's token is not acceptable: answer 401, say ``reason``
    JWKSUnavailable   the provider's keys cannot be had: no token can be checked (503)

:meth:`OIDCVerifier.verify` is synchronous and may fetch the key set over HTTP: call it
from a worker thread (FastAPI's thread pool, ``asyncio.to_thread``), never on the event
loop. It is safe to call from many threads at once.

Key rotation: a token signed with a key id (``kid``) the cached set lacks makes the
verifier fetch the set again, at most once per ``jwks_refetch_interval`` seconds, so
that a flood of tokens with made-up key ids cannot turn into a flood of requests to
the identity provider.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from unifier.errors import UnifierError

log = logging.getLogger("unifier.auth")

# Asymmetric signatures only: a shared-secret algorithm (HS*) would let anyone holding the
# provider's *public* key mint tokens (the classic RS256 -> HS256 confusion), and "none"
# is no signature at all. Neither can be configured.
SignatureAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

DEFAULT_ALGORITHMS: tuple[SignatureAlgorithm, ...] = ("RS256", "ES256")

# JWK key type (and curve) each algorithm needs; a key of another type never verifies.
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_EC_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

# A JWT larger than this is refused before any parsing (headers cap far lower anyway).
MAX_TOKEN_BYTES = 16 * 1024
# A key set larger than this is refused: providers publish a handful of keys.
MAX_JWKS_BYTES = 1024 * 1024
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]

ENV_PREFIX = "UNIFIER_OIDC_"


class InvalidToken(UnifierError):
    """The bearer token is refused; ``reason`` is safe to show the caller."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class JWKSUnavailable(UnifierError):
    """The identity provider's key set cannot be read or parsed."""


class OIDCConfigError(UnifierError):
    """The OIDC settings (environment or file) are incomplete or wrong."""


class OIDCSettings(BaseModel):
    """Where tokens come from and how they are checked. From the environment with
    :meth:`from_env` (``UNIFIER_OIDC_ISSUER`` ...), or built from a configuration document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1, description=(
        "the provider's issuer identifier, compared exactly with the token's `iss` claim "
        "(mind the trailing slash), e.g. https://login.example.com/realms/acme"))
    audience: str = Field(min_length=1, description=(
        "the value the token's `aud` claim must hold: the client id unifier is registered under"))
    jwks_url: str | None = Field(default=None, description=(
        "where the provider publishes its signing keys (JWKS), e.g. https://login.example.com/.../certs; "
        "https, or http to a loopback address only"))
    jwks_file: Path | None = Field(default=None, description=(
        "a file holding the JWKS instead of jwks_url (air-gapped sites); re-read on key rotation"))
    groups_claim: str = Field(default="groups", min_length=1, description=(
        "the claim listing the caller's groups; a dotted path reaches into nested claims "
        "(`realm_access.roles`) when no claim has that literal name"))
    algorithms: list[SignatureAlgorithm] = Field(default_factory=lambda: list(DEFAULT_ALGORITHMS), min_length=1,
                                                 description="signature algorithms accepted (asymmetric only)")
    leeway: float = Field(default=30.0, ge=0, le=300, description=(
        "seconds of clock skew tolerated when checking `exp`, `nbf` and `iat`"))
    jwks_cache_ttl: float = Field(default=300.0, gt=0, description=(
        "seconds a fetched key set is used before it is fetched again"))
    jwks_refetch_interval: float = Field(default=30.0, ge=0, description=(
        "fewest seconds between two fetches of the key set, whatever tokens arrive"))
    http_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for the JWKS URL to answer")

    @field_validator("jwks_url")
    @classmethod
    def _secure_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"jwks_url must be an http(s) URL, not {url!r}")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            # keys fetched in clear could be swapped on the way: anyone could then sign tokens
            raise ValueError("jwks_url must use https (plain http only to a loopback address)")
        return url

    @model_validator(mode="after")
    def _one_key_source(self) -> OIDCSettings:
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise ValueError("set exactly one of jwks_url and jwks_file")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OIDCSettings | None:
        """Settings from ``UNIFIER_OIDC_*`` variables; None when none of them is set.

        ISSUER, AUDIENCE, JWKS_URL or JWKS_FILE, GROUPS_CLAIM, ALGORITHMS (comma
        separated), LEEWAY, JWKS_CACHE_TTL, JWKS_REFETCH_INTERVAL, HTTP_TIMEOUT."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper(), "").strip()
            if raw:
                values[name] = [a.strip() for a in raw.split(",") if a.strip()] if name == "algorithms" else raw
        if not values:
            return None
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(_env_problem(error) for error in exc.errors())
            raise OIDCConfigError(f"OIDC settings from the environment are refused: {problems}") from None


@dataclass(frozen=True)
class OIDCIdentity:
    """Who a valid token names: ``subject`` (``sub``), ``groups``, and every claim."""

    subject: str
    groups: list[str]
    claims: dict[str, Any] = field(repr=False)


class OIDCVerifier:
    """Verifies bearer tokens against one provider. ``clock`` (monotonic seconds) and
    ``http`` (a client for the JWKS URL) exist for tests and for sharing a client."""

    def __init__(self, settings: OIDCSettings, *, clock: Callable[[], float] = time.monotonic,
                 http: httpx.Client | None = None):
        self.settings = settings
        self.keys = JWKSCache(settings, clock=clock, http=http)

    def verify(self, token: str) -> OIDCIdentity:
        """The identity a token names, or :class:`InvalidToken` saying why not.
        Blocking (may fetch the key set): run it in a thread."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or (kid is not None and not isinstance(kid, str)):
            raise InvalidToken("malformed token header")
        if algorithm not in self.settings.algorithms:
            raise InvalidToken(f"signature algorithm {algorithm[:16]!r} is not accepted")
        key = _key_for(self.keys.lookup(kid), algorithm)
        try:
            claims = jwt.decode(
                token, key, algorithms=[algorithm], audience=self.settings.audience,
                issuer=self.settings.issuer, leeway=self.settings.leeway,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True})
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason(exc)) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise InvalidToken("token names no subject (sub)")
        return OIDCIdentity(subject=subject, groups=_groups(claims, self.settings.groups_claim), claims=claims)


class JWKSCache:
    """The provider's signing keys by key id, fetched (or read) lazily, kept for
    ``jwks_cache_ttl``, fetched again early for an unknown key id (rate-limited).
    When a fetch fails, the keys already held stay in use (an identity provider that is
    down does not lock everybody out; its logins keep working until it is back)."""

    def __init__(self, settings: OIDCSettings, *, clock: Callable[[], float] = time.monotonic,
                 http: httpx.Client | None = None):
        self.settings = settings
        self._clock = clock
        self._http = http
        # one fetch at a time: verifications arriving meanwhile wait for it (http_timeout at most)
        self._lock = threading.Lock()
        self._keys: dict[str, dict[str, Any]] | None = None  # kid ("" when absent) -> JWK
        self._fetched_at = 0.0
        self._attempted_at: float | None = None

    def lookup(self, kid: str | None) -> dict[str, Any]:
        """The JWK a token's ``kid`` names: InvalidToken when the provider has no such key."""
        with self._lock:
            now = self._clock()
            fetched = False
            if self._keys is None or now - self._fetched_at >= self.settings.jwks_cache_ttl:
                fetched = self._refresh(now)
            jwk = self._find(kid)
            if jwk is None and not fetched:  # a rotated key the cached set does not know yet?
                self._refresh(now)
                jwk = self._find(kid)
        if jwk is None:
            raise InvalidToken("token names no signing key the provider publishes" if kid is None
                               else f"unknown signing key (kid {kid[:64]!r})")
        return jwk

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        keys = self._keys or {}
        if kid is not None:
            return keys.get(kid)
        # no kid in the token: unambiguous only when the provider publishes a single key
        return next(iter(keys.values())) if len(keys) == 1 else None

    def _refresh(self, now: float) -> bool:
        """Fetch the key set unless one was attempted less than the refetch interval ago;
        True when this call attempted a fetch."""
        if self._attempted_at is not None and now - self._attempted_at < self.settings.jwks_refetch_interval:
            if self._keys is None:
                raise JWKSUnavailable("the identity provider's keys could not be read; retrying shortly")
            return False
        self._attempted_at = now
        try:
            self._keys = _parse_jwks(self._read())
            self._fetched_at = now
        except JWKSUnavailable as exc:
            if self._keys is None:
                raise
            log.warning("keeping the OIDC keys fetched before: %s", exc)
        return True

    def _read(self) -> bytes:
        settings = self.settings
        if settings.jwks_file is not None:
            try:
                data = settings.jwks_file.read_bytes()
            except OSError as exc:
                raise JWKSUnavailable(f"cannot read JWKS file {settings.jwks_file}: {exc.strerror}") from None
        else:
            assert settings.jwks_url is not None  # the settings hold exactly one source
            try:
                if self._http is not None:
                    response = self._http.get(settings.jwks_url, timeout=settings.http_timeout)
                else:
                    response = httpx.get(settings.jwks_url, timeout=settings.http_timeout)
            except httpx.HTTPError as exc:
                raise JWKSUnavailable(f"cannot fetch JWKS from {settings.jwks_url}: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise JWKSUnavailable(f"JWKS URL {settings.jwks_url} answered {response.status_code}")
            data = response.content
        if len(data) > MAX_JWKS_BYTES:
            raise JWKSUnavailable(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
        return data


def _parse_jwks(data: bytes) -> dict[str, dict[str, Any]]:
    """Signature keys by kid; symmetric keys and encryption keys are left out."""
    try:
        document = json.loads(data)
    except ValueError:
        raise JWKSUnavailable("JWKS is not JSON") from None
    members = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(members, list):
        raise JWKSUnavailable("JWKS has no `keys` list")
    keys: dict[str, dict[str, Any]] = {}
    for member in members:
        if not isinstance(member, dict) or member.get("kty") not in ("RSA", "EC", "OKP"):
            continue  # a shared secret ("oct") must never verify a token
        if member.get("use", "sig") != "sig":
            continue
        kid = member.get("kid", "")
        if isinstance(kid, str):
            keys.setdefault(kid, member)
    if not keys:
        raise JWKSUnavailable("JWKS holds no usable signature key")
    return keys


def _key_for(jwk: dict[str, Any], algorithm: str) -> jwt.PyJWK:
    """The JWK as a key bound to ``algorithm``, refused when they do not belong together."""
    declared = jwk.get("alg")
    if declared is not None and declared != algorithm:
        raise InvalidToken(f"signing key is for {str(declared)[:16]}, not {algorithm}")
    curve = _EC_CURVE.get(algorithm)
    if jwk.get("kty") != _KEY_TYPE[algorithm[:2]] or (curve is not None and jwk.get("crv") != curve):
        raise InvalidToken(f"signing key type does not match algorithm {algorithm}")
    try:
        return jwt.PyJWK(jwk, algorithm=algorithm)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise InvalidToken("the provider's signing key for this token is unusable") from None


def _reason(exc: jwt.PyJWTError) -> str:
    """A short reason for the caller: what was wrong, never the token's contents."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token not yet valid"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks the {exc.claim!r} claim"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "signature algorithm not accepted"
    if isinstance(exc, jwt.DecodeError):
        return "malformed token"
    return "invalid token"


def _groups(claims: dict[str, Any], claim: str) -> list[str]:
    value: Any = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(group, str) for group in value):
        return list(value)
    raise InvalidToken(f"the {claim!r} claim must be a list of group names")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _env_problem(error: Any) -> str:
    location = error.get("loc") or ()
    if not location:  # a rule over several fields
        return str(error.get("msg"))
    return f"{ENV_PREFIX}{str(location[0]).upper()}: {error.get('msg')}"
