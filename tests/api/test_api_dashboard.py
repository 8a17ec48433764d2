"""The dashboard page and its assets are served by the API process, from the package,
with nothing fetched from elsewhere (it must work offline)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import unifier.api

STATIC = Path(unifier.api.__file__).parent / "static"


async def test_the_page_and_its_assets_load_with_their_types(client):
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text))
    # the style sheet, and every module preloaded (one round trip for all, not one per import level)
    scripts = {f"/static/{p.relative_to(STATIC).as_posix()}" for p in STATIC.rglob("*.js")}
    assert assets == {"/static/app.css", *scripts}
    assert set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', page.text)) == scripts
    types = {}
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        types[asset] = response.headers["content-type"].split(";")[0]
    assert types == {"/static/app.css": "text/css"} | {script: "text/javascript" for script in scripts}


async def test_only_the_packaged_assets_are_served(client):
    for path in ("/static/index.html", "/static/..%2F..%2F__init__.py", "/static/nope.js"):
        assert (await client.get(path)).status_code == 404, path


SCRIPTS = sorted(STATIC.rglob("*.js"))


def test_nothing_is_fetched_from_another_origin():
    assert STATIC / "app.js" in SCRIPTS
    for path in (STATIC / "index.html", STATIC / "app.css", *SCRIPTS):
        name = path.name
        text = path.read_text()
        # the SVG namespace is an identifier, not a request
        assert not re.findall(r"https?://(?!www\.w3\.org/2000/svg)", text), name


def test_the_page_reads_only_routes_the_api_has(app):
    # every "/api/..." string or template in the page's modules: `/${...}` is a path
    # parameter, any other `${...}` a query string
    script = "\n".join(p.read_text() for p in SCRIPTS)
    found = re.findall(r'["`](/api/[^"`?]*)', script)
    called = {re.sub(r"/\$\{[^}]*\}", "/{}", p).split("${")[0] for p in found}
    assert called == {"/api/instances", "/api/status", "/api/jobs/{}", "/api/runs", "/api/run",
                      "/api/run/why", "/api/run/events", "/api/run/logs", "/api/forecast", "/api/graph",
                      "/api/health/instances", "/api/events/stream"}
    paths = [re.compile("^" + re.sub(r"\\{[^}]*\\}", "[^/]+", re.escape(p)) + "$") for p in app.openapi()["paths"]]
    for path in called:
        assert any(p.match(path.replace("{}", "x")) for p in paths), path


def test_the_script_has_no_syntax_error():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot check app.js syntax")
    for path in SCRIPTS:
        result = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (path, result.stderr)
