"""Fixtures of the Jenkins adapter tests: a fake controller on a real socket (see
fake_jenkins.py) and adapters built from settings the way unifier builds them (secret
references resolved from the environment)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from fake_jenkins import FakeJenkins
from jenkins_testing import TOKEN_ENV, build_adapter, standard_world

from unifier.adapters.jenkins.adapter import JenkinsAdapter


@pytest.fixture
def fake_jenkins(monkeypatch) -> Iterator[FakeJenkins]:
    fake = standard_world(FakeJenkins())
    fake.start()
    monkeypatch.setenv(TOKEN_ENV, fake.users["unifier"])
    yield fake
    fake.stop()


@pytest.fixture
def make_adapter(fake_jenkins) -> Iterator[Callable[..., JenkinsAdapter]]:
    built: list[JenkinsAdapter] = []

    def make(**overrides: Any) -> JenkinsAdapter:
        raw = {"url": fake_jenkins.base, "username": "unifier", "token": f"${{env:{TOKEN_ENV}}}",
               "queue_wait": 10, **overrides}
        adapter = build_adapter(raw)
        built.append(adapter)
        return adapter

    yield make
    for adapter in built:
        adapter.client.close()


@pytest.fixture
async def jenkins_adapter(make_adapter) -> AsyncIterator[JenkinsAdapter]:
    adapter = make_adapter()
    yield adapter
    await adapter.close()
