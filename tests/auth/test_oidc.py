"""OIDC bearer tokens: the tests mint their own keys and tokens; the JWKS comes from a
file or from an HTTP server the test starts on 127.0.0.1. Nothing leaves the machine."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import ValidationError

from unifier.auth.oidc import (
    InvalidToken,
    JWKSUnavailable,
    OIDCConfigError,
    OIDCIdentity,
    OIDCSettings,
    OIDCVerifier,
)

ISSUER = "https://login.example.test/realms/acme"
AUDIENCE = "unifier"


@dataclass
class SigningKey:
    kid: str
    private: Any
    algorithm: str

    def jwk(self, **extra: Any) -> dict[str, Any]:
        to_jwk = RSAAlgorithm.to_jwk if self.algorithm.startswith(("RS", "PS")) else ECAlgorithm.to_jwk
        return {**to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid, "use": "sig", **extra}

    def mint(self, *, headers: dict[str, Any] | None = None, algorithm: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice@example.test", "iat": now, "exp": now + 300,
                   "groups": ["team-a-oncall", "everyone"]}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, self.private, algorithm=algorithm or self.algorithm,
                          headers={"kid": self.kid, **(headers or {})})


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey("rsa-1", rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey("ec-1", ec.generate_private_key(ec.SECP256R1()), "ES256")


@pytest.fixture(scope="module")
def other_rsa_key() -> SigningKey:
    return SigningKey("rsa-2", rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")


def write_jwks(path: Path, *jwks: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"keys": list(jwks)}))
    return path


@pytest.fixture
def jwks_file(tmp_path, rsa_key, ec_key) -> Path:
    return write_jwks(tmp_path / "jwks.json", rsa_key.jwk(), ec_key.jwk())


@pytest.fixture
def verifier(jwks_file) -> OIDCVerifier:
    return OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks_file))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def refused(verifier: OIDCVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    return caught.value.reason


# ---------------------------------------------------------------------- valid tokens


def test_a_valid_rs256_token_names_its_subject_and_groups(verifier, rsa_key):
    identity = verifier.verify(rsa_key.mint(email="alice@example.test"))
    assert isinstance(identity, OIDCIdentity)
    assert identity.subject == "alice@example.test"
    assert identity.groups == ["team-a-oncall", "everyone"]
    assert identity.claims["email"] == "alice@example.test"


def test_a_valid_es256_token_is_accepted(verifier, ec_key):
    assert verifier.verify(ec_key.mint(sub="bob")).subject == "bob"


def test_an_audience_list_holding_ours_is_accepted(verifier, rsa_key):
    assert verifier.verify(rsa_key.mint(aud=["other-client", AUDIENCE])).subject == "alice@example.test"


def test_a_token_without_groups_has_none(verifier, rsa_key):
    assert verifier.verify(rsa_key.mint(groups=None)).groups == []


def test_the_groups_claim_name_is_configurable_and_may_be_a_dotted_path(jwks_file, rsa_key):
    roles = OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks_file, groups_claim="roles"))
    assert roles.verify(rsa_key.mint(roles=["admins"])).groups == ["admins"]
    assert roles.verify(rsa_key.mint(roles="admins")).groups == ["admins"]
    nested = OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks_file,
                                       groups_claim="realm_access.roles"))
    assert nested.verify(rsa_key.mint(realm_access={"roles": ["infra-leads"]})).groups == ["infra-leads"]
    assert "list of group names" in refused(roles, rsa_key.mint(roles={"admins": True}))


def test_small_clock_skew_is_tolerated(verifier, rsa_key):
    now = int(time.time())
    assert verifier.verify(rsa_key.mint(exp=now - 5, nbf=now + 5)).subject  # within the 30 s leeway


def test_a_key_set_with_a_single_key_serves_tokens_without_kid(tmp_path, rsa_key):
    single = write_jwks(tmp_path / "single.json", {k: v for k, v in rsa_key.jwk().items() if k != "kid"})
    verifier = OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=single))
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "exp": int(time.time()) + 60},
                       rsa_key.private, algorithm="RS256")
    assert verifier.verify(token).subject == "s"


# ---------------------------------------------------------------------- refused tokens


def test_expired_and_not_yet_valid_tokens_are_refused(verifier, rsa_key):
    now = int(time.time())
    assert refused(verifier, rsa_key.mint(exp=now - 120)) == "token expired"
    assert refused(verifier, rsa_key.mint(nbf=now + 600)) == "token not yet valid"
    assert refused(verifier, rsa_key.mint(iat=now + 600)) == "token not yet valid"


def test_wrong_issuer_and_wrong_audience_are_refused(verifier, rsa_key):
    assert refused(verifier, rsa_key.mint(iss=ISSUER + "/")) == "wrong issuer"
    assert refused(verifier, rsa_key.mint(iss="https://evil.example.test")) == "wrong issuer"
    assert refused(verifier, rsa_key.mint(aud="another-app")) == "wrong audience"


def test_required_claims_must_be_present(verifier, rsa_key):
    assert "'exp'" in refused(verifier, rsa_key.mint(exp=None))
    assert "'sub'" in refused(verifier, rsa_key.mint(sub=None))
    assert "'aud'" in refused(verifier, rsa_key.mint(aud=None))
    assert "'iss'" in refused(verifier, rsa_key.mint(iss=None))


def test_a_token_signed_by_another_key_under_a_published_kid_is_refused(verifier, other_rsa_key):
    forged = other_rsa_key.mint(headers={"kid": "rsa-1"})
    assert refused(verifier, forged) == "bad signature"


def test_a_tampered_payload_is_refused(verifier, rsa_key):
    header, _, signature = rsa_key.mint(sub="alice").split(".")
    now = int(time.time())
    payload = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "root", "exp": now + 60,
                              "groups": ["admins"]}).encode())
    assert refused(verifier, f"{header}.{payload}.{signature}") == "bad signature"


def test_an_unknown_kid_is_refused(verifier, other_rsa_key):
    assert "unknown signing key" in refused(verifier, other_rsa_key.mint())


def test_alg_none_is_refused(verifier, rsa_key):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "root", "exp": now + 60}
    for alg in ("none", "None", "NONE"):
        assert "not accepted" in refused(verifier, hand_made({"alg": alg, "kid": "rsa-1"}, claims))


def test_hs256_signed_with_the_public_key_is_refused(verifier, rsa_key):
    """The RS256 -> HS256 confusion: an attacker uses the published public key as an HMAC secret."""
    now = int(time.time())
    public_pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "root", "exp": now + 60}).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert "not accepted" in refused(verifier, f"{header}.{payload}.{b64(signature)}")


def test_a_token_whose_algorithm_does_not_fit_the_key_is_refused(verifier, rsa_key, ec_key):
    # an ES256 signature presented under the RSA key's kid, and the reverse
    assert "does not match" in refused(verifier, ec_key.mint(headers={"kid": "rsa-1"}))
    assert "does not match" in refused(verifier, rsa_key.mint(headers={"kid": "ec-1"}))


def test_a_key_declared_for_another_algorithm_is_not_used(tmp_path, rsa_key):
    pinned = write_jwks(tmp_path / "pinned.json", rsa_key.jwk(alg="PS256"))
    verifier = OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=pinned,
                                         algorithms=["RS256", "PS256"]))
    assert "is for PS256" in refused(verifier, rsa_key.mint())
    assert verifier.verify(rsa_key.mint(algorithm="PS256")).subject


def test_an_algorithm_outside_the_configured_list_is_refused(jwks_file, ec_key):
    rsa_only = OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks_file, algorithms=["RS256"]))
    assert "not accepted" in refused(rsa_only, ec_key.mint())


@pytest.mark.parametrize("token", [
    "", "not-a-jwt", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9", "x" * 20_000,
    hand_made({"alg": 256, "kid": "rsa-1"}, {"sub": "x"}),
    hand_made({"alg": "RS256", "kid": ["rsa-1"]}, {"sub": "x"}),
    "eyJub3QganNvbg.eyJzdWIiOiJ4In0.c2ln",  # header is not JSON
])
def test_malformed_tokens_are_refused_with_a_reason(verifier, token):
    assert refused(verifier, token)


def test_a_signed_payload_that_is_not_json_is_refused(verifier, rsa_key):
    token = jwt.api_jws.encode(b"not json", rsa_key.private, algorithm="RS256", headers={"kid": "rsa-1"})
    assert refused(verifier, token) == "malformed token"


# ---------------------------------------------------------------------- settings


def test_settings_need_exactly_one_key_source(tmp_path):
    with pytest.raises(ValidationError, match="exactly one of jwks_url and jwks_file"):
        OIDCSettings(issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ValidationError, match="exactly one of jwks_url and jwks_file"):
        OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url="https://idp/certs", jwks_file=tmp_path / "k")


def test_settings_refuse_symmetric_algorithms_and_plain_http(tmp_path):
    for algorithm in ("HS256", "none"):
        with pytest.raises(ValidationError):
            OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=tmp_path / "k", algorithms=[algorithm])
    with pytest.raises(ValidationError, match="must use https"):
        OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://idp.example.test/certs")
    for loopback in ("http://127.0.0.1:8080/certs", "http://localhost/certs", "http://[::1]:9/certs"):
        assert OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=loopback).jwks_url == loopback


def test_from_env_is_none_when_nothing_is_set():
    assert OIDCSettings.from_env({"PATH": "/bin"}) is None


def test_from_env_reads_every_variable(tmp_path):
    settings = OIDCSettings.from_env({
        "UNIFIER_OIDC_ISSUER": ISSUER, "UNIFIER_OIDC_AUDIENCE": AUDIENCE,
        "UNIFIER_OIDC_JWKS_FILE": str(tmp_path / "jwks.json"), "UNIFIER_OIDC_GROUPS_CLAIM": "roles",
        "UNIFIER_OIDC_ALGORITHMS": "ES256, PS256", "UNIFIER_OIDC_LEEWAY": "5"})
    assert settings == OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=tmp_path / "jwks.json",
                                    groups_claim="roles", algorithms=["ES256", "PS256"], leeway=5)


def test_from_env_reads_the_real_environment(monkeypatch):
    monkeypatch.setenv("UNIFIER_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("UNIFIER_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("UNIFIER_OIDC_JWKS_URL", "https://login.example.test/certs")
    settings = OIDCSettings.from_env()
    assert settings is not None and settings.jwks_url == "https://login.example.test/certs"


def test_from_env_names_what_is_missing_or_wrong():
    with pytest.raises(OIDCConfigError) as caught:
        OIDCSettings.from_env({"UNIFIER_OIDC_ISSUER": ISSUER, "UNIFIER_OIDC_ALGORITHMS": "HS256"})
    message = str(caught.value)
    assert "UNIFIER_OIDC_AUDIENCE" in message and "UNIFIER_OIDC_ALGORITHMS" in message
    with pytest.raises(OIDCConfigError, match="exactly one of jwks_url and jwks_file"):
        OIDCSettings.from_env({"UNIFIER_OIDC_ISSUER": ISSUER, "UNIFIER_OIDC_AUDIENCE": AUDIENCE})


# ---------------------------------------------------------------------- JWKS from a URL


@dataclass
class IdentityProvider:
    """Serves a JWKS on 127.0.0.1 and counts the requests for it."""

    jwks: dict[str, Any]
    status: int = 200
    requests: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, *keys: dict[str, Any]) -> None:
        self.jwks = {"keys": list(keys)}


@pytest.fixture
def provider(rsa_key) -> Iterator[IdentityProvider]:
    idp = IdentityProvider({"keys": [rsa_key.jwk()]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            with idp.lock:
                idp.requests += 1
            body = json.dumps(idp.jwks).encode() if idp.status == 200 else b"unavailable"
            self.send_response(idp.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    idp.url = f"http://127.0.0.1:{server.server_address[1]}/realms/acme/certs"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield idp
    server.shutdown()
    server.server_close()


class FakeClock:
    """Monotonic seconds the test moves forward by hand (no test waits for real time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def url_verifier(provider: IdentityProvider, clock: FakeClock, **settings: Any) -> OIDCVerifier:
    return OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=provider.url, **settings),
                        clock=clock)


def test_the_key_set_is_fetched_once_and_cached(provider, rsa_key):
    clock = FakeClock()
    verifier = url_verifier(provider, clock, jwks_cache_ttl=300)
    for _ in range(5):
        assert verifier.verify(rsa_key.mint()).subject
    assert provider.requests == 1
    clock.now += 301  # the cached set is now stale
    assert verifier.verify(rsa_key.mint()).subject
    assert provider.requests == 2


def test_a_rotated_key_is_fetched_on_its_first_token(provider, rsa_key, other_rsa_key):
    clock = FakeClock()
    verifier = url_verifier(provider, clock, jwks_refetch_interval=30)
    assert verifier.verify(rsa_key.mint()).subject
    provider.publish(rsa_key.jwk(), other_rsa_key.jwk())
    clock.now += 31
    assert verifier.verify(other_rsa_key.mint()).subject
    assert provider.requests == 2


def test_unknown_kids_cannot_flood_the_provider(provider, rsa_key, other_rsa_key):
    clock = FakeClock()
    verifier = url_verifier(provider, clock, jwks_refetch_interval=30)
    assert verifier.verify(rsa_key.mint()).subject
    clock.now += 31
    for n in range(20):
        assert "unknown signing key" in refused(verifier, other_rsa_key.mint(headers={"kid": f"made-up-{n}"}))
    assert provider.requests == 2  # one refetch for the whole burst
    clock.now += 31
    refused(verifier, other_rsa_key.mint(headers={"kid": "made-up-again"}))
    assert provider.requests == 3


def test_keys_already_held_stay_in_use_while_the_provider_is_down(provider, rsa_key):
    clock = FakeClock()
    verifier = url_verifier(provider, clock, jwks_cache_ttl=60)
    assert verifier.verify(rsa_key.mint()).subject
    provider.status = 503
    clock.now += 61
    assert verifier.verify(rsa_key.mint()).subject
    assert provider.requests == 2


def test_no_key_set_at_all_is_an_unavailable_provider_not_a_bad_token(provider, rsa_key):
    clock = FakeClock()
    provider.status = 500
    verifier = url_verifier(provider, clock, jwks_refetch_interval=30)
    for _ in range(3):
        with pytest.raises(JWKSUnavailable):
            verifier.verify(rsa_key.mint())
    assert provider.requests == 1  # not retried on every request
    provider.status = 200
    clock.now += 31
    assert verifier.verify(rsa_key.mint()).subject


@pytest.mark.parametrize("jwks", [
    {"keys": []}, {"nokeys": True}, ["not", "an", "object"],
    {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "rsa-1"}]},  # a shared secret never verifies
])
def test_a_key_set_without_usable_signature_keys_is_unavailable(provider, rsa_key, jwks):
    provider.jwks = jwks
    with pytest.raises(JWKSUnavailable):
        url_verifier(provider, FakeClock()).verify(rsa_key.mint())


def test_encryption_keys_are_not_signature_keys(provider, rsa_key):
    provider.publish(rsa_key.jwk(use="enc"))
    with pytest.raises(JWKSUnavailable):
        url_verifier(provider, FakeClock()).verify(rsa_key.mint())


def test_an_unreachable_jwks_url_is_unavailable(rsa_key):
    settings = OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://127.0.0.1:9/certs", http_timeout=2)
    with pytest.raises(JWKSUnavailable, match="cannot fetch JWKS"):
        OIDCVerifier(settings).verify(rsa_key.mint())


def test_many_threads_verify_at_once_with_one_fetch(provider, rsa_key):
    verifier = url_verifier(provider, FakeClock())
    tokens = [rsa_key.mint(sub=f"user-{n}") for n in range(32)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        subjects = list(pool.map(lambda token: verifier.verify(token).subject, tokens))
    assert subjects == [f"user-{n}" for n in range(32)]
    assert provider.requests == 1


def test_key_urls_named_by_the_token_itself_are_never_fetched(provider, jwks_file, other_rsa_key):
    """An attacker's token pointing at the attacker's own key set (jku, x5u) gains nothing."""
    provider.publish(other_rsa_key.jwk())
    verifier = OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks_file))
    token = other_rsa_key.mint(headers={"jku": provider.url, "x5u": provider.url})
    assert "unknown signing key" in refused(verifier, token)
    assert provider.requests == 0


def test_a_rewritten_jwks_file_is_read_again_for_a_new_kid(tmp_path, rsa_key, other_rsa_key):
    path = write_jwks(tmp_path / "jwks.json", rsa_key.jwk())
    clock = FakeClock()
    verifier = OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=path), clock=clock)
    assert verifier.verify(rsa_key.mint()).subject
    write_jwks(path, other_rsa_key.jwk())
    clock.now += 31
    assert verifier.verify(other_rsa_key.mint()).subject
    assert "unknown signing key" in refused(verifier, rsa_key.mint())  # the retired key is gone


def test_a_missing_jwks_file_is_unavailable(tmp_path, rsa_key):
    verifier = OIDCVerifier(OIDCSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=tmp_path / "absent.json"))
    with pytest.raises(JWKSUnavailable, match="cannot read JWKS file"):
        verifier.verify(rsa_key.mint())
