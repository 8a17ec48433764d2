"""The server's OIDC: ``UNIFIER_OIDC_*`` configures the real verifier behind API
authentication (after API tokens); a JWT's subject and groups meet AccessPolicies as
``user:<sub>`` and ``group:<g>``; a refused token is 401, unreadable keys are 503."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from unifier.api.serving import ServeOptions, build_api
from unifier.apply import apply
from unifier.auth.tokens import TokenStore
from unifier.config import load_files

ISSUER = "https://login.example.test/realms/acme"
POLICY = """\
apiVersion: unifier/v1
kind: AccessPolicy
metadata: {name: oncall}
spec: {subjects: [group:team-a-oncall], role: operator, scope: ["cron://hosts/*"]}
"""


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def mint(key, **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": "unifier", "sub": "dana", "iat": now, "exp": now + 300,
               "groups": ["team-a-oncall"], **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def oidc_env(monkeypatch, tmp_path, key):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1"}]}))
    monkeypatch.setenv("UNIFIER_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("UNIFIER_OIDC_AUDIENCE", "unifier")
    monkeypatch.setenv("UNIFIER_OIDC_JWKS_FILE", str(jwks))
    return jwks


@pytest.fixture
async def server(catalog, tmp_path, oidc_env):
    (tmp_path / "p.yaml").write_text(POLICY)
    apply(catalog, load_files([tmp_path / "p.yaml"]))
    app = build_api(catalog, "127.0.0.1", ServeOptions())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def test_a_provider_token_is_a_principal_with_user_and_group_subjects(server, key):
    me = await server.get("/api/whoami", headers=bearer(mint(key)))
    assert me.status_code == 200, me.text
    assert me.json()["subjects"] == ["user:dana", "group:team-a-oncall"]
    assert [(g["role"], g["scopes"]) for g in me.json()["grants"]] == [("operator", ["cron://hosts/*"])]


async def test_with_oidc_configured_nobody_is_anonymous_and_bad_tokens_are_401(server, key):
    assert (await server.get("/api/status")).status_code == 401
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (mint(other), mint(key, aud="someone-else"), mint(key, exp=int(time.time()) - 3600), "garbage"):
        refused = await server.get("/api/status", headers=bearer(token))
        assert refused.status_code == 401 and refused.json()["detail"].startswith("invalid token")


async def test_api_tokens_still_come_first(server, catalog):
    _, secret = TokenStore(catalog).create("ci", "viewer", None, None, "test")
    me = await server.get("/api/whoami", headers=bearer(secret))
    assert me.status_code == 200 and me.json()["subjects"] == ["token:ci"]


async def test_unreadable_provider_keys_are_503_not_401(server, key, oidc_env):
    oidc_env.unlink()  # the key set is read on first use: now it cannot be
    answer = await server.get("/api/status", headers=bearer(mint(key)))
    assert answer.status_code == 503 and "JWKS" in answer.json()["detail"]


def test_refused_oidc_settings_stop_the_server_with_the_reason(catalog, monkeypatch):
    from unifier.auth.oidc import OIDCConfigError

    monkeypatch.setenv("UNIFIER_OIDC_ISSUER", ISSUER)  # no audience, no key set
    with pytest.raises(OIDCConfigError, match="OIDC settings from the environment are refused"):
        build_api(catalog, "127.0.0.1", ServeOptions())
