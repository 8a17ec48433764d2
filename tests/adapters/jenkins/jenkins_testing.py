"""Helpers of the Jenkins adapter tests (a module with a unique name: test modules import it,
which they cannot safely do with a conftest.py beside other adapters' conftest.py files)."""

from __future__ import annotations

from typing import Any

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
