"""The role matrix: every route x viewer/operator/approver/admin, each role scoped to
``cron://hosts/*`` and unscoped, acting on a job in and out of that scope.

Manual triggers here hit an ApprovalPolicy that guards every job, so an allowed
trigger is an approval request (202) and no tool is called; an allowed approval runs
the ledger's firing, whose tool error is the ledger's business, not the route's.
"""

from __future__ import annotations

import httpx
import pytest

from unifier.apply import apply
from unifier.auth.tokens import TokenStore
from unifier.config import load_files

IN, OUT = "cron://hosts/extract", "airflow://prod/load"
ROLES = ("viewer", "operator", "approver", "admin")
PRINCIPALS = [(role, scoped) for role in ROLES for scoped in (True, False)]

POLICIES = """\
apiVersion: unifier/v1
kind: ApprovalPolicy
metadata: {name: everything-waits}
spec:
  jobs: ["*"]
  approvers: [token:approver-a, token:approver-all, token:admin-a, token:admin-all]
---
apiVersion: unifier/v1
kind: Trigger
metadata: {name: idle-after-extract}
spec:
  when:
    any: [{job: cron://hosts/extract}]
  then:
    - job: cron://hosts/idle
"""


def name(role: str, scoped: bool) -> str:
    return f"{role}-{'a' if scoped else 'all'}"


@pytest.fixture
def secrets(catalog, tmp_path) -> dict[str, str]:
    (tmp_path / "policies.yaml").write_text(POLICIES)
    apply(catalog, load_files([tmp_path / "policies.yaml"]))
    store = TokenStore(catalog)
    return {name(role, scoped): store.create(name(role, scoped), role, ["cron://hosts/*"] if scoped else None,
                                             None, "test")[1]
            for role, scoped in PRINCIPALS}


def auth(secrets: dict[str, str], role: str, scoped: bool) -> dict[str, str]:
    return {"Authorization": f"Bearer {secrets[name(role, scoped)]}"}


def sees(scoped: bool, job: str) -> bool:
    return not scoped or job.startswith("cron://hosts/")


# what of team "prod" each listing shows an unscoped reader (a scoped one: never)
READ_LISTS = {"/api/status": OUT, "/api/jobs": OUT, "/api/runs": OUT, "/api/graph": OUT, "/api/triggers": OUT,
              "/api/events": OUT, "/api/instances": '"name":"prod"', "/api/firings": None,
              "/api/approvals": None, "/api/next": None}


@pytest.mark.parametrize("role, scoped", PRINCIPALS)
@pytest.mark.parametrize("path", READ_LISTS)
async def test_every_role_reads_and_a_scope_filters_every_listing(client, secrets, path, role, scoped):
    response = await client.get(path, headers=auth(secrets, role, scoped))
    assert response.status_code == 200, response.text
    marker = READ_LISTS[path]
    if marker is not None:
        assert (marker in response.text) == (not scoped)
    if scoped:
        assert "airflow://" not in response.text and '"prod"' not in response.text
    # what is in scope still shows
    assert "hosts" in response.text or path in ("/api/firings", "/api/approvals", "/api/next")


async def test_whoami_names_the_grants(client, secrets):
    me = (await client.get("/api/whoami", headers=auth(secrets, "operator", True))).json()
    assert me["name"] == "operator-a" and me["subjects"] == ["token:operator-a"]
    assert me["grants"] == [{"role": "operator", "scopes": ["cron://hosts/*"], "source": "token:operator-a"}]


@pytest.mark.parametrize("role, scoped", PRINCIPALS)
@pytest.mark.parametrize("job", [IN, OUT])
async def test_a_job_outside_the_scope_does_not_exist(client, secrets, role, scoped, job):
    response = await client.get(f"/api/jobs/{job}", headers=auth(secrets, role, scoped))
    assert response.status_code == (200 if sees(scoped, job) else 404)
    runs = await client.get("/api/runs", params={"job": job}, headers=auth(secrets, role, scoped))
    assert (len(runs.json()) > 0) == sees(scoped, job)


@pytest.mark.parametrize("role, scoped", PRINCIPALS)
@pytest.mark.parametrize("job", [IN, OUT])
async def test_trigger_needs_operator_or_admin_in_scope(client, secrets, role, scoped, job):
    response = await client.post("/api/trigger", json={"job": job, "params": {"day": "1"}},
                                 headers=auth(secrets, role, scoped))
    allowed = role in ("operator", "admin") and sees(scoped, job)
    if allowed:
        assert response.status_code == 202, response.text
        assert response.json()["approval"]["state"] == "awaiting_approval"
        assert response.json()["run"] is None
    else:
        assert response.status_code == 403
        assert response.json()["missing_permission"] == "trigger"
        assert "trigger" in response.json()["detail"]


@pytest.mark.parametrize("role, scoped", PRINCIPALS)
@pytest.mark.parametrize("job", [IN, OUT])
async def test_cancel_needs_operator_or_admin_in_scope(client, secrets, role, scoped, job):
    response = await client.post("/api/cancel", json={"job": job, "run_id": "r1"}, headers=auth(secrets, role, scoped))
    if role in ("operator", "admin") and sees(scoped, job):
        assert response.status_code not in (401, 403, 500)  # authorised: what follows is the tool's answer
    else:
        assert response.status_code == 403
        assert response.json()["missing_permission"] == "cancel"


@pytest.mark.parametrize("role, scoped", PRINCIPALS)
@pytest.mark.parametrize("trigger, jobs", [("idle-after-extract", [IN]), ("load-after-extract", [IN, OUT])])
async def test_pause_and_resume_need_operator_or_admin_over_every_job_of_the_trigger(
        client, secrets, role, scoped, trigger, jobs):
    headers = auth(secrets, role, scoped)
    paused = await client.post(f"/api/triggers/{trigger}/pause", json={"reason": "test"}, headers=headers)
    resumed = await client.post(f"/api/triggers/{trigger}/resume", headers=headers)
    visible = all(sees(scoped, j) for j in jobs)
    for response in (paused, resumed):
        if not visible:
            assert response.status_code == 404
        elif role in ("operator", "admin"):
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 403
            assert response.json()["missing_permission"] == "pause"
    if visible and role in ("operator", "admin"):
        assert resumed.json()["resumed"] is True


@pytest.mark.parametrize("role, scoped", PRINCIPALS)
@pytest.mark.parametrize("job", [IN, OUT])
@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_decisions_need_approver_or_admin_in_scope(client, secrets, role, scoped, job, decision):
    requested = await client.post("/api/trigger", json={"job": job}, headers=auth(secrets, "operator", False))
    approval = requested.json()["approval"]["id"]
    response = await client.post(f"/api/approvals/{approval}/{decision}", json={"reason": "matrix"},
                                 headers=auth(secrets, role, scoped))
    if not sees(scoped, job):
        assert response.status_code == 404
    elif role in ("approver", "admin"):
        assert response.status_code == 200, response.text
        assert response.json()["approval"]["state"] == ("approved" if decision == "approve" else "rejected")
    else:
        assert response.status_code == 403
        assert response.json()["missing_permission"] == "approve"


ADMIN_ROUTES = [
    ("GET", "/api/tokens", None), ("POST", "/api/tokens", {"name": "new-one", "role": "viewer"}),
    ("DELETE", "/api/tokens/viewer-a", None), ("GET", "/api/audit", None), ("GET", "/api/audit/verify", None),
    ("POST", "/api/config/validate", {"files": {"/x/p.yaml": POLICIES}}),
    ("POST", "/api/config/plan", {"files": {"/x/p.yaml": POLICIES}}),
    ("POST", "/api/config/apply", {"files": {"/x/p.yaml": POLICIES}, "dry_run": True}),
]


@pytest.mark.parametrize("role, scoped", PRINCIPALS)
@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES)
async def test_admin_routes_need_an_unscoped_admin(client, secrets, role, scoped, method, path, body):
    response = await client.request(method, path, json=body, headers=auth(secrets, role, scoped))
    if role == "admin" and not scoped:
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == 403
        assert response.json()["missing_permission"] in ("admin", "apply")


def every_route(app) -> list[tuple[str, str]]:
    """The OpenAPI document's operations and the routes kept out of it."""
    found = [(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops]
    return found + [("GET", "/"), ("GET", "/static/{name}"), ("GET", "/openapi.json"), ("GET", "/docs")]


async def test_only_healthz_webhooks_and_the_dashboard_shell_answer_an_anonymous_caller(app, client, secrets):
    routes = every_route(app)
    assert len(routes) > 25
    for method, path in routes:
        concrete = "/static/app.js" if path == "/static/{name}" else (
            path.replace("{uri:path}", IN).replace("{job:path}", IN).replace("{run_id}", "r1")
                    .replace("{name}", "idle-after-extract").replace("{approval_id}", "x")
                    .replace("{instance}", "hosts").replace("{name}", "app.js"))
        response = await client.request(method, concrete)
        if path == "/healthz":
            assert response.status_code == 200
        elif path in ("/", "/static/{name}"):
            # the dashboard's page and scripts: no data in them, and a browser must load
            # them to show the sign-in form; everything they read is under /api (401 above)
            assert response.status_code == 200, (method, path)
            assert "unifier" in response.text and "Bearer" not in response.headers.get("www-authenticate", "")
        elif path.startswith("/hooks/"):
            assert response.status_code in (401, 403)  # the webhook's own secret
        else:
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"


async def test_the_matrix_is_audited_with_actors_and_outcomes(client, secrets, catalog):
    await client.post("/api/trigger", json={"job": IN}, headers=auth(secrets, "viewer", True))
    await client.post("/api/trigger", json={"job": IN}, headers=auth(secrets, "operator", True))
    entries = (await client.get("/api/audit", headers=auth(secrets, "admin", False))).json()
    triggers = [(e["actor"], e["outcome"], e["source"]) for e in entries if e["action"] == "trigger"]
    assert ("viewer-a", "denied", "127.0.0.1") in triggers
    assert ("operator-a", "ok", "127.0.0.1") in triggers


async def test_an_app_without_auth_is_open_only_when_allowed(catalog):
    from unifier.api import create_app

    for allow_open, expected in ((True, 200), (False, 401)):
        app = create_app(lambda: catalog, allow_open=allow_open)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            assert (await c.get("/api/status")).status_code == expected


async def test_the_event_stream_is_scoped_too(client, secrets):
    async with client.stream("GET", "/api/events/stream", params={"after": 0},
                             headers=auth(secrets, "viewer", True)) as response:
        assert response.status_code == 200
        body = "".join([chunk async for chunk in response.aiter_text()])
    assert '"job":"cron://hosts/extract"' in body
    assert "airflow://" not in body



@pytest.mark.parametrize("scoped", [True, False])
async def test_the_dashboard_detail_routes_are_scoped_too(client, secrets, scoped):
    headers = auth(secrets, "viewer", scoped)
    health = await client.get("/api/health/instances", headers=headers)
    assert health.status_code == 200 and '"name":"hosts"' in health.text
    assert ('"name":"prod"' in health.text) == (not scoped)
    for job, run_id in ((IN, "r1"), (OUT, "manual__2")):
        expected = 200 if sees(scoped, job) else 404
        assert (await client.get(f"/api/runs/{job}/{run_id}/why", headers=headers)).status_code == expected
        assert (await client.get("/api/run/why", params={"job": job, "run_id": run_id},
                                 headers=headers)).status_code == expected
        events = await client.get("/api/run/events", params={"job": job, "run_id": run_id}, headers=headers)
        assert events.status_code == expected
        forecast = await client.get("/api/forecast", params={"job": job}, headers=headers)
        assert forecast.status_code == expected
    assert (await client.get("/api/run/logs", params={"job": OUT, "run_id": "manual__2"},
                             headers=headers)).status_code in ((404,) if scoped else (502, 503))
    assert "airflow://" not in (await client.get("/api/forecast", params={"within": "7d"}, headers=headers)).text \
        or not scoped
