"""Fixtures for the cron adapter tests: real crontab files in tmp dirs, a real spool."""

from __future__ import annotations

import pytest

from unifier.adapters.cron.adapter import CronAdapter
from unifier.adapters.cron.settings import CronSettings

DEMO_CRONTAB = """\
# the jobs of the conformance suite
MAILTO=""
SHELL=/bin/sh
# unifier: name=hello
* * * * * echo hello; echo "greeting=$UNIFIER_PARAM_GREETING"
# unifier: name=boom
@daily echo about to fail >&2; exit 3
# unifier: name=sleepy
*/5 * * * * sleep 30
"""


@pytest.fixture
def demo_crontab() -> str:
    return DEMO_CRONTAB


@pytest.fixture
def make_adapter(tmp_path):
    """Build a CronAdapter over crontab text(s) written to tmp files."""

    def make(*texts: str, instance: str = "hosts", formats: list[str] | None = None) -> CronAdapter:
        sources = []
        for i, text in enumerate(texts):
            path = tmp_path / f"crontab{i}"
            path.write_text(text)
            fmt = (formats or ["auto"] * len(texts))[i]
            sources.append({"path": str(path), "format": fmt})
        settings = CronSettings(crontabs=sources, spool=str(tmp_path / "spool"))
        return CronAdapter(instance, settings)

    return make
