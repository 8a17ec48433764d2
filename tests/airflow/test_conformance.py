"""The shared adapter conformance suite, against the real Airflow of server.sh."""

from __future__ import annotations

import pytest

from unifier.testing.conformance import AdapterConformance

pytestmark = pytest.mark.airflow


class TestAirflowConformance(AdapterConformance):
    run_timeout = 90.0
    # must equal the instance's `watermark_overlap` (see conftest.airflow_config)
    watermark_overlap = 2.0

    @pytest.fixture
    def adapter(self, make_adapter):
        return make_adapter()

    @pytest.fixture
    def succeeding_job(self):
        return "unifier_succeeds"

    @pytest.fixture
    def failing_job(self):
        return "unifier_fails"

    @pytest.fixture
    def slow_job(self):
        return "unifier_slow"
