"""The terraform adapter passes the shared conformance suite against the real terraform
binary and null provider, offline (see conftest.py)."""

import pytest

from unifier.testing.conformance import AdapterConformance


class TestTerraformConformance(AdapterConformance):
    run_timeout = 60
    # `greeting` is a variable the `hello` root declares: parameters become -var flags
    trigger_params = {"greeting": "hello from unifier"}

    @pytest.fixture
    def adapter(self, make_adapter):
        # apply, so that provisioners run: a plan never fails on `exit 1` nor sleeps
        return make_adapter(default_action="apply")

    @pytest.fixture
    def succeeding_job(self):
        return "hello"

    @pytest.fixture
    def failing_job(self):
        return "boom"

    @pytest.fixture
    def slow_job(self):
        return "sleepy"
