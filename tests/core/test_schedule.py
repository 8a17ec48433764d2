"""Next-run maths: time zones and DST as cron daemons behave."""

from datetime import UTC, datetime

import pytest

from unifier.schedule import expand, next_runs, problem, runs_per_day

UTC = UTC


def test_fixed_time_job_runs_once_on_autumn_change():
    # Europe/Berlin leaves summer time on 2026-10-25 at 03:00 CEST -> 02:00 CET
    runs = next_runs("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC), 3)
    assert runs == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC),   # 02:30 CEST, once
                    datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
                    datetime(2026, 10, 27, 1, 30, tzinfo=UTC)]


def test_starting_inside_the_repeated_hour_does_not_run_it_again():
    after = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)  # 02:45 CEST, before the clocks go back
    assert next_runs("30 2 * * *", "Europe/Berlin", after)[0] == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_wildcard_job_runs_through_the_repeated_hour():
    runs = next_runs("*/30 * * * *", "Europe/Berlin", datetime(2026, 10, 25, 0, 10, tzinfo=UTC), 4)
    assert runs == [datetime(2026, 10, 25, h, m, tzinfo=UTC) for h, m in ((0, 30), (1, 0), (1, 30), (2, 0))]


def test_time_zone_is_honoured():
    [run] = next_runs("0 9 * * *", "America/New_York", datetime(2026, 7, 1, 12, tzinfo=UTC))
    assert run == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)  # 09:00 EDT, an hour after 08:00 EDT


@pytest.mark.parametrize("expr,reason", [("61 * * * *", "bad cron expression"), ("* * *", "expected 5 fields"),
                                         ("@sometimes", "bad cron expression")])
def test_problems_are_explained(expr, reason):
    assert reason in problem(expr)


def test_macros_and_rates():
    assert expand("@daily") == "0 0 * * *" and problem("@reboot") is None
    assert next_runs("@reboot") == []
    assert runs_per_day("*/15 * * * *", "UTC", datetime(2026, 1, 1, tzinfo=UTC)) == 96
