"""The fake adapter passes the same suite as every real adapter, with every capability
on, and with the optional ones off (then asking for them must raise Unsupported)."""

import pytest

from unifier.adapter import Adapter, Capabilities
from unifier.errors import Unsupported
from unifier.testing import FakeAdapter, FakeJob, FakeSettings
from unifier.testing.conformance import AdapterConformance


class PushingFake(FakeAdapter):
    """The fake as a tool that notifies the webhook: its changes are visible at once."""

    capabilities = Capabilities(cancel=True, logs=True, schedules=True, push=True)


class ObserveOnlyFake(FakeAdapter):
    """A tool unifier can only watch: it cannot trigger, cancel or fetch logs, and its
    jobs carry no schedule."""

    capabilities = Capabilities(trigger=False, cancel=False, logs=False, schedules=False, parameters=False)
    cancel = Adapter.cancel
    logs = Adapter.logs

    async def trigger(self, native_id, params, firing_id, *, fired_at=None):
        raise Unsupported(f"{self.kind} adapter cannot trigger runs", instance=self.instance)


def instance_name(request) -> str:
    return f"fake-{abs(hash(request.node.nodeid)) % 10**6}"


class TestFakeConformance(AdapterConformance):
    run_timeout = 10

    @pytest.fixture
    def adapter(self, request):
        settings = FakeSettings(jobs=[
            FakeJob(id="hello"), FakeJob(id="boom", outcome="failed"), FakeJob(id="sleepy", duration=30),
            FakeJob(id="nightly", schedule="0 3 * * *"),
        ])
        return PushingFake(instance_name(request), settings)

    @pytest.fixture
    def succeeding_job(self):
        return "hello"

    @pytest.fixture
    def failing_job(self):
        return "boom"

    @pytest.fixture
    def slow_job(self):
        return "sleepy"


class TestObserveOnlyFakeConformance(TestFakeConformance):
    @pytest.fixture
    def adapter(self, request):
        settings = FakeSettings(jobs=[FakeJob(id="hello"), FakeJob(id="boom", outcome="failed"),
                                      FakeJob(id="sleepy", duration=30)])
        return ObserveOnlyFake(instance_name(request), settings)
