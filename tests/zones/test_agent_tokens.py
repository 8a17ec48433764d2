# ruff: noqa: F811  (pytest fixtures imported from test_zone_service, used as arguments)
"""Zone agents authenticate with an ``agent`` token: the zone they serve is the token's,
never the request's word, and the token can do nothing but serve that zone."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import run_cli
from tests.zones.test_zone_service import agent_headers, configured, http, settings  # noqa: F401  (fixtures)
from unifier.auth.tokens import TokenStore
from unifier.errors import InvalidInput


def as_agent(secret: str, agent_id: str = "a1", zone: str | None = None) -> dict[str, str]:
    headers = {**agent_headers(agent_id), "Authorization": f"Bearer {secret}"}
    if zone is None:
        del headers["X-Unifier-Zone"]
    else:
        headers["X-Unifier-Zone"] = zone
    return headers


@pytest.fixture
def secrets(configured):
    store = TokenStore(configured)
    return {name: store.create(name, role, scopes, None, "test")[1] for name, role, scopes in (
        ("plant-agent", "agent", ["zone:plant-7"]), ("viewer", "viewer", None), ("root", "admin", None))}


async def test_an_agent_token_serves_its_own_zone_without_any_zone_header(http, secrets):
    answer = await http.get("/api/agent/instances", headers=as_agent(secrets["plant-agent"]))
    assert answer.status_code == 200
    assert sorted(i["name"] for i in answer.json()) == ["ci", "plant"]
    pulled = await http.post("/api/agent/pull", headers=as_agent(secrets["plant-agent"]), json={"wait": 0})
    assert pulled.status_code == 200 and pulled.json()["active"] is True
    zones = (await http.get("/api/zones", headers={"Authorization": f"Bearer {secrets['viewer']}"})).json()
    assert [(z["zone"], z["agent_id"]) for z in zones] == [("plant-7", "a1")]


async def test_the_zone_header_cannot_widen_an_agent_token(http, secrets):
    other = await http.get("/api/agent/instances", headers=as_agent(secrets["plant-agent"], zone="plant-8"))
    assert other.status_code == 403 and "plant-7" in other.json()["detail"]
    same = await http.get("/api/agent/instances", headers=as_agent(secrets["plant-agent"], zone="plant-7"))
    assert same.status_code == 200


async def test_an_agent_token_can_do_nothing_else(http, secrets):
    agent = {"Authorization": f"Bearer {secrets['plant-agent']}"}
    for path in ("/api/status", "/api/jobs", "/api/runs", "/api/zones", "/api/instances"):
        assert (await http.get(path, headers=agent)).status_code == 403, path
    refused = await http.post("/api/trigger", headers=agent, json={"job": "cron://office/backup", "params": {}})
    assert refused.status_code == 403


async def test_other_roles_may_not_act_as_agents_and_nobody_anonymous(http, secrets):
    viewer = await http.post("/api/agent/pull", json={"wait": 0},
                             headers=as_agent(secrets["viewer"], zone="plant-7"))
    assert viewer.status_code == 403 and "--role agent --zone" in viewer.json()["detail"]
    anonymous = await http.post("/api/agent/pull", json={"wait": 0}, headers=as_agent("", zone="plant-7"))
    assert anonymous.status_code == 401
    admin = await http.get("/api/agent/instances", headers=as_agent(secrets["root"], zone="plant-7"))
    assert admin.status_code == 200  # an admin may serve any zone it names


def test_an_agent_token_needs_exactly_one_zone_and_only_agents_take_one(configured):
    store = TokenStore(configured)
    for role, scopes in (("agent", None), ("agent", ["zone:a", "zone:b"]), ("agent", ["zone:a", "cron://*"]),
                         ("agent", ["zone:Bad_Zone"]), ("operator", ["zone:plant-7"])):
        with pytest.raises(InvalidInput):
            store.create("x", role, scopes, None, "test")


def test_unifier_token_create_with_zone(configured, catalog_url, monkeypatch):
    monkeypatch.setenv("UNIFIER_DATABASE_URL", catalog_url)
    made = run_cli("token", "create", "plant-agent", "--role", "agent", "--zone", "plant-7", "-o", "json")
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout)["scopes"] == ["zone:plant-7"]
    info = TokenStore(configured).list()[0]
    assert (info.name, info.role.value, info.scopes) == ("plant-agent", "agent", ("zone:plant-7",))
    refused = run_cli("token", "create", "x", "--role", "viewer", "--zone", "plant-7")
    assert refused.exit_code == 2 and "--role agent only" in refused.stderr
