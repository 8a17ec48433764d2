"""The Jenkins adapter passes the shared conformance suite: against the fake controller
(twice: jobs that declare UNIFIER_FIRING_ID, and jobs where a retried firing is matched by
user, parameters and time), and against a real controller when JENKINS_URL is set."""

from __future__ import annotations

import os

import pytest
from jenkins_testing import build_adapter

from unifier.testing.conformance import AdapterConformance


class TestJenkinsConformance(AdapterConformance):
    run_timeout = 15

    @pytest.fixture
    def adapter(self, jenkins_adapter):
        return jenkins_adapter

    @pytest.fixture
    def succeeding_job(self):
        return "team/services/hello"  # declares UNIFIER_FIRING_ID

    @pytest.fixture
    def failing_job(self):
        return "team/boom"  # no parameters: triggered with plain `build`

    @pytest.fixture
    def slow_job(self):
        return "sleepy"


class TestJenkinsConformanceMatchedByUser(TestJenkinsConformance):
    @pytest.fixture
    def succeeding_job(self):
        return "team/plain-hello"  # no UNIFIER_FIRING_ID: adoption by user, parameters, time


# A real controller needs three jobs (names overridable): a job with a string parameter
# `greeting` that succeeds, a job without parameters that fails, one that runs >= 10 s.
REAL_JOBS = {
    "succeeding": os.environ.get("JENKINS_SUCCEEDING_JOB", "unifier-conformance/hello"),
    "failing": os.environ.get("JENKINS_FAILING_JOB", "unifier-conformance/boom"),
    "slow": os.environ.get("JENKINS_SLOW_JOB", "unifier-conformance/sleepy"),
}


@pytest.mark.real_jenkins
@pytest.mark.skipif(not os.environ.get("JENKINS_URL"),
                    reason="JENKINS_URL (with JENKINS_USER, JENKINS_TOKEN) names no real Jenkins")
class TestRealJenkinsConformance(AdapterConformance):
    run_timeout = 300

    @pytest.fixture
    async def adapter(self):
        raw = {"url": os.environ["JENKINS_URL"], "username": os.environ.get("JENKINS_USER"),
               "token": "${env:JENKINS_TOKEN}" if os.environ.get("JENKINS_TOKEN") else None,
               "verify": os.environ.get("JENKINS_CA_BUNDLE", True),
               "timezone": os.environ.get("JENKINS_TIMEZONE", "UTC")}
        adapter = build_adapter({k: v for k, v in raw.items() if v is not None}, instance="real")
        yield adapter
        await adapter.close()

    @pytest.fixture
    def succeeding_job(self):
        return REAL_JOBS["succeeding"]

    @pytest.fixture
    def failing_job(self):
        return REAL_JOBS["failing"]

    @pytest.fixture
    def slow_job(self):
        return REAL_JOBS["slow"]
