"""Property-based: schemathesis generates requests from the OpenAPI document (valid and
invalid), against an app over a real catalog; no request may cause a 5xx other than a
tool's own unavailability (502/503: the test instances point at tools that are not
running)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from unifier.api import create_app
from unifier.zones.settings import ZoneSettings


def operations(catalog) -> list:
    # open (loopback, no token configured): every route is reached past authentication
    app = create_app(lambda: catalog)
    # a zone agent's long poll answers within a fraction of a second here, not after 25 s
    app.state.zone_settings = ZoneSettings(long_poll_seconds=0.1, answer_wait_seconds=0.1)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_request_makes_the_server_fail(catalog):
    found = operations(catalog)
    assert len(found) > 25
    for operation in found:
        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case) -> None:
            response = case.call()
            assert response.status_code < 500 or response.status_code in (502, 503), (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}")
            assert "Traceback" not in response.text

        no_server_error()
