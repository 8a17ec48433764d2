"""Authentication edge cases: every refused credential is a 401 (never a 500), the
error tree maps to statuses, bodies are bounded, secrets never come back out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from unifier.api import create_app
from unifier.apply import apply
from unifier.auth.tokens import TokenStore
from unifier.catalog.tables import ApiTokenRow
from unifier.config import load_files
from unifier.model import utcnow


@pytest.fixture
def tokens(catalog) -> TokenStore:
    return TokenStore(catalog)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_revoked_and_expired_tokens_are_refused_from_the_next_request(client, tokens, catalog):
    _, admin = tokens.create("root", "admin", None, None, "test")
    _, alice = tokens.create("alice", "viewer", None, timedelta(days=90), "test")
    assert (await client.get("/api/jobs", headers=bearer(alice))).status_code == 200
    tokens.revoke("alice")
    refused = await client.get("/api/jobs", headers=bearer(alice))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]

    _, bob = tokens.create("bob", "viewer", None, timedelta(days=1), "test")
    with catalog.session() as s:
        s.execute(update(ApiTokenRow).where(ApiTokenRow.name == "bob").values(expires_at=utcnow() - timedelta(1)))
    expired = await client.get("/api/jobs", headers=bearer(bob))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert (await client.get("/api/jobs", headers=bearer(admin))).status_code == 200


@pytest.mark.parametrize("header", [
    "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "Bearer unf_" + "x" * 10000,
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "bearer unf_unknown", "Bearer \u00e9t\u00e9".encode("latin-1"),
])
async def test_malformed_and_unknown_credentials_are_401_never_500(client, tokens, header: str | bytes):
    tokens.create("root", "admin", None, None, "test")
    response = await client.get("/api/status", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert "Traceback" not in response.text and response.json()["detail"]


async def test_unknown_routes_404_and_oversized_bodies_413(client, tokens):
    _, admin = tokens.create("root", "admin", None, None, "test")
    assert (await client.get("/api/nothing-here", headers=bearer(admin))).status_code == 404
    big = {"files": {"/x/a.yaml": "#" * (5 * 1024 * 1024)}}
    assert (await client.post("/api/config/validate", json=big, headers=bearer(admin))).status_code == 413


async def test_the_error_tree_maps_to_statuses_not_502(client, tokens, catalog):
    _, admin = tokens.create("root", "admin", None, None, "test")
    bad = await client.post("/api/config/apply", headers=bearer(admin),
                            json={"files": {"/cfg/bad.yaml": "apiVersion: unifier/v1\nkind: Nope\n"}})
    assert bad.status_code == 422
    assert bad.json()["problems"][0].startswith("/cfg/bad.yaml:2: unknown kind 'Nope'")
    garbage = await client.post("/api/trigger", json={"job": "not a uri"}, headers=bearer(admin))
    assert garbage.status_code == 400 and "not a job URI" in garbage.json()["detail"]
    missing = await client.post("/api/trigger", json={"job": "cron://nowhere/x"}, headers=bearer(admin))
    assert missing.status_code == 404 and "no instance named 'nowhere'" in missing.json()["detail"]
    role = await client.post("/api/tokens", json={"name": "x", "role": "king"}, headers=bearer(admin))
    assert role.status_code == 400 and "unknown role" in role.json()["detail"]
    down = await client.get("/api/logs", params={"job": "airflow://prod/load", "run_id": "manual__2"},
                            headers=bearer(admin))  # prod's Airflow is not running
    assert down.status_code in (502, 503), down.text


async def test_a_token_and_the_policies_naming_it_add_up(client, tokens, catalog, tmp_path):
    (tmp_path / "p.yaml").write_text("""\
apiVersion: unifier/v1
kind: AccessPolicy
metadata: {name: alice-runs-prod}
spec: {subjects: [token:alice], role: operator, scope: ["airflow://prod/*"]}
""")
    apply(catalog, load_files([tmp_path / "p.yaml"]))
    _, alice = tokens.create("alice", "viewer", ["cron://hosts/*"], None, "test")
    jobs = {j["uri"] for j in (await client.get("/api/jobs", headers=bearer(alice))).json()}
    assert jobs == {"cron://hosts/extract", "cron://hosts/idle", "airflow://prod/load"}
    refused = await client.post("/api/trigger", json={"job": "cron://hosts/extract"}, headers=bearer(alice))
    assert refused.status_code == 403
    allowed = await client.post("/api/cancel", json={"job": "airflow://prod/load", "run_id": "manual__2"},
                                headers=bearer(alice))
    assert allowed.status_code not in (401, 403)


@dataclass
class Identity:
    subject: str
    groups: list[str]


class IdentityProvider:
    """Stands in for the company's IdP at the seam (``verify(token) -> identity``);
    the real JWT verification is unifier.auth.oidc's, tested there."""

    def verify(self, token: str) -> Identity:
        if token != "jwt-of-dana":
            raise ValueError("signature verification failed")
        return Identity("dana", ["team-a-oncall"])


async def test_an_oidc_identity_maps_to_user_and_group_subjects(catalog, tmp_path):
    (tmp_path / "p.yaml").write_text("""\
apiVersion: unifier/v1
kind: AccessPolicy
metadata: {name: oncall}
spec: {subjects: [group:team-a-oncall], role: operator, scope: ["cron://hosts/*"]}
""")
    apply(catalog, load_files([tmp_path / "p.yaml"]))
    app = create_app(lambda: catalog, oidc=IdentityProvider(), allow_open=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        me = (await c.get("/api/whoami", headers=bearer("jwt-of-dana"))).json()
        assert me["subjects"] == ["user:dana", "group:team-a-oncall"]
        assert me["grants"][0]["role"] == "operator"
        refused = await c.get("/api/whoami", headers=bearer("jwt-of-eve"))
        assert refused.status_code == 401 and "signature verification failed" in refused.json()["detail"]
        assert (await c.get("/api/jobs", headers=bearer("unf_not-a-token"))).status_code == 401


async def test_secrets_never_come_back_out(client, tokens, catalog, monkeypatch, tmp_path):
    monkeypatch.setenv("HOOK_SECRET", "s3cr3t-webhook-value")
    (tmp_path / "i.yaml").write_text("""\
apiVersion: unifier/v1
kind: Instance
metadata: {name: hooked}
spec: {adapter: cron, config: {crontabs: [./crontab]}, webhook_secret: "${env:HOOK_SECRET}"}
""")
    (tmp_path / "crontab").write_text("# unifier: name=x\n0 1 * * * true\n")
    _, admin = tokens.create("root", "admin", None, None, "test")
    applied = await client.post("/api/config/apply", headers=bearer(admin),
                                json={"files": {str(tmp_path / "i.yaml"): (tmp_path / "i.yaml").read_text()}})
    assert applied.status_code == 200, applied.text
    created = await client.post("/api/tokens", json={"name": "ci", "role": "viewer"}, headers=bearer(admin))
    secret = created.json()["token"]
    everything = ""
    for path in ("/api/instances", "/api/tokens", "/api/audit", "/api/status", "/api/triggers"):
        everything += (await client.get(path, headers=bearer(admin))).text
    for value in ("s3cr3t-webhook-value", secret, admin):
        assert value not in everything
    with catalog.engine.connect() as conn:
        dump = "\n".join(str(row) for table in ("api_tokens", "audit", "instances", "policies")
                         for row in conn.exec_driver_sql(f"SELECT * FROM {table}"))
    for value in ("s3cr3t-webhook-value", secret, admin):
        assert value not in dump
