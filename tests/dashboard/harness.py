"""A real ``unifier serve`` and Debian's chromium driven by Playwright, for the dashboard
tests and ``benchmarks/dashboard_*.py``.

Chromium is the distribution's (``apt-get install chromium``; ``scripts/test.sh`` installs
it where missing): Playwright is told its path and never downloads a browser. Every page
is opened with the network cut off except for the server under test, and what the page
tried to reach elsewhere is kept, so a test can prove it works offline.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = os.environ.get("UNIFIER_TEST_CHROMIUM", "/usr/bin/chromium")
# as root it needs no sandbox; the rest keep it from reaching for the network
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
SCREENSHOTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        return f"no chromium at {CHROMIUM} (scripts/test.sh installs Debian's chromium as root)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(env: dict[str, str], log: Path, timeout: float = 30) -> Iterator[str]:
    """``unifier serve`` in a subprocess on a free port of 127.0.0.1; yields its base URL."""
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "unifier", "serve", "--listen", f"127.0.0.1:{port}"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:  # with or without auth
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"unifier serve did not start: {log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class Tab:
    """One page with the network limited to ``base``: what it tried to fetch elsewhere is
    in ``elsewhere``, what it logged as an error in ``errors``."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int] = DESKTOP, **context: Any):
        self.base = base
        self.context = browser.new_context(viewport=viewport, **context)
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._only_the_server)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _only_the_server(self, route: Any) -> None:
        if route.request.url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()

    def open(self, hash_path: str = "") -> Any:
        self.page.goto(f"{self.base}/{hash_path}")
        return self.page

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()
