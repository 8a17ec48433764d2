"""The fake adapter passes the same suite as every real adapter."""

import pytest

from unifier.testing import FakeAdapter, FakeJob, FakeSettings
from unifier.testing.conformance import AdapterConformance


class TestFakeConformance(AdapterConformance):
    run_timeout = 10

    @pytest.fixture
    def adapter(self, request):
        settings = FakeSettings(jobs=[
            FakeJob(id="hello"), FakeJob(id="boom", outcome="failed"), FakeJob(id="sleepy", duration=30),
        ])
        return FakeAdapter(f"fake-{abs(hash(request.node.name)) % 10**6}", settings)

    @pytest.fixture
    def succeeding_job(self):
        return "hello"

    @pytest.fixture
    def failing_job(self):
        return "boom"

    @pytest.fixture
    def slow_job(self):
        return "sleepy"
