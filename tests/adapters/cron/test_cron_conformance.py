"""The cron adapter passes the shared suite, with real crontab files and the real wrapper."""

import pytest

from unifier.testing.conformance import AdapterConformance


class TestCronConformance(AdapterConformance):
    run_timeout = 20

    @pytest.fixture
    def adapter(self, make_adapter, demo_crontab):
        return make_adapter(demo_crontab)

    @pytest.fixture
    def succeeding_job(self):
        return "hello"

    @pytest.fixture
    def failing_job(self):
        return "boom"

    @pytest.fixture
    def slow_job(self):
        return "sleepy"
