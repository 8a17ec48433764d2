"""Fixtures of the Jenkins adapter tests: a fake controller on a real socket (see
fake_jenkins.py) and adapters built from settings the way unifier builds them (secret
references resolved from the environment)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from fake_jenkins import PIPELINE, FakeJenkins, Param

from unifier import secrets
from unifier.adapters.jenkins.adapter import JenkinsAdapter
from unifier.adapters.jenkins.settings import JenkinsSettings

TOKEN_ENV = "UNIFIER_TEST_JENKINS_TOKEN"


def build_adapter(raw: dict[str, Any], instance: str = "ci") -> JenkinsAdapter:
    with secrets.resolved_context():
        settings = JenkinsSettings.model_validate(secrets.resolve(raw))
    return JenkinsAdapter(instance, settings)


def standard_world(fake: FakeJenkins) -> FakeJenkins:
    """The jobs the conformance suite and most tests use."""
    greeting = Param("greeting", default="hello")
    fake.add_job("team/services/hello", params=[greeting, Param("UNIFIER_FIRING_ID")],
                 description="says hello, knows its firing")
    fake.add_job("team/plain-hello", params=[greeting, Param("dry_run", "boolean", False)])
    fake.add_job("team/boom", outcome="FAILURE")
    fake.add_job("team/wobbly", outcome="UNSTABLE")
    fake.add_job("sleepy", duration=30.0)
    fake.add_job("nightly", cls=PIPELINE, timer_spec="TZ=Europe/Paris\nH 2 * * *")
    return fake


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
        raw = {"url": fake_jenkins.base, "username": "unifier", "token": "${env:%s}" % TOKEN_ENV,
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
