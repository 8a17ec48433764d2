"""The dashboard against a server that really checks tokens: the page loads without
one, says the API refused it, and the token a person signs in with opens the views.
Its own catalog (a real crontab, a real sync), so the shared demo server stays open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import expect

from tests.dashboard.harness import Tab, serve

CRONTAB = 'MAILTO=""\n# unifier: name=nightly\n0 2 * * *  echo nightly\n'
CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: guarded}
spec:
  adapter: cron
  config:
    crontabs: [./crontab]
"""


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "unifier", *args], env=env, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_token_signs_in_on_a_server_that_checks_tokens(browser, tmp_path: Path) -> None:
    env = {**os.environ, "UNIFIER_HOME": str(tmp_path / "home")}
    env.pop("UNIFIER_DATABASE_URL", None)
    env.pop("UNIFIER_SERVER", None)
    (tmp_path / "crontab").write_text(CRONTAB)
    (tmp_path / "unifier.yaml").write_text(CONFIG)
    cli(env, "apply", "-f", str(tmp_path / "unifier.yaml"))
    cli(env, "sync")
    secret = json.loads(cli(env, "token", "create", "carol", "--role", "viewer", "-o", "json"))["token"]
    with serve(env, tmp_path / "serve.log") as url:
        tab = Tab(browser, url)
        try:
            page = tab.open("#/status")
            problem = page.get_by_role("alert")
            expect(problem).to_contain_text("HTTP 401")  # the page loaded; the API refused it
            expect(page.locator("#status tbody tr[data-job]")).to_have_count(0)
            problem.get_by_role("link", name="Sign in").click()
            page.get_by_label("API token").fill(secret)
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator('#status tbody tr[data-job="cron://guarded/nightly"]')).to_have_count(1)
            expect(page.locator("#who")).to_have_text("signed in (token)")
            expect(page.get_by_role("alert")).to_be_empty()  # the old refusal is gone
            expect(page.locator("#live")).to_have_text("live")  # the event stream, now with the token
            tab.screenshot("signed-in-real-auth")
            assert secret not in (tmp_path / "serve.log").read_text()  # never logged
        finally:
            tab.close()
