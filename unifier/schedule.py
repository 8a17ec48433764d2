"""Cron schedules: validation and next-run maths, time-zone and DST aware.

One implementation for every tool that speaks cron (crontab lines, Kubernetes
CronJobs, Jenkins timer triggers after H-substitution) and for the forecast.

DST: croniter predicts a 02:30 job twice on the autumn change (the wall-clock time
occurs twice), where cron daemons run it once; :func:`next_runs` keeps the first.
As in Vixie/Debian cron, this applies to fixed-time jobs only: a job whose minute or
hour field starts with ``*`` ("every 30 minutes") runs through the repeated hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import AfterValidator

from unifier.model import as_utc, utcnow

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def expand(expression: str) -> str:
    """``@daily`` -> ``0 0 * * *``; other expressions unchanged (whitespace folded)."""
    expression = " ".join(expression.split())
    return MACROS.get(expression.lower(), expression)


def problem(expression: str) -> str | None:
    """Why ``expression`` is not a valid 5-field cron expression, or None."""
    expanded = expand(expression)
    if expanded.lower() == "@reboot":
        return None
    if len(expanded.split()) != 5:
        return f"bad cron expression {expression!r}: expected 5 fields (minute hour day month weekday)"
    if not croniter.is_valid(expanded):
        return f"bad cron expression {expression!r}"
    return None


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def next_runs(expression: str, tz: str | None = None, after: datetime | None = None,
              limit: int = 1, until: datetime | None = None) -> list[datetime]:
    """The next ``limit`` run times (UTC) of ``expression`` in time zone ``tz`` after
    ``after`` (default now), stopping at ``until`` if given. ``@reboot`` never recurs."""
    expanded = expand(expression)
    if expanded.lower() == "@reboot" or limit <= 0:
        return []
    tzinfo = zone(tz)
    start = (as_utc(after) or utcnow()).astimezone(tzinfo)
    it = croniter(expanded, start)
    minute, hour = expanded.split()[:2]
    fixed_time = not (minute.startswith("*") or hour.startswith("*"))
    found: list[datetime] = []
    # starting inside a repeated hour: its second 02:30 must not count as a new run
    last_wall: datetime | None = start.replace(tzinfo=None)
    guard = 0
    while len(found) < limit and guard < limit * 4 + 8:
        guard += 1
        moment = it.get_next(datetime)
        wall = moment.replace(tzinfo=None)
        if fixed_time and wall <= last_wall:
            continue  # the repeated hour of an autumn DST change: cron runs it once
        last_wall = wall
        utc = as_utc(moment)
        if until is not None and utc > as_utc(until):
            break
        found.append(utc)
    return found


def next_run(expression: str, tz: str | None = None, after: datetime | None = None) -> datetime | None:
    runs = next_runs(expression, tz, after, limit=1)
    return runs[0] if runs else None


def runs_per_day(expression: str, tz: str | None = None, after: datetime | None = None) -> int:
    """How many times the schedule fires in the 24 h after ``after`` (for estimates)."""
    start = as_utc(after) or utcnow()
    return len(next_runs(expression, tz, start, limit=24 * 60 + 1, until=start + timedelta(days=1)))


def _validate(expression: str) -> str:
    reason = problem(expression)
    if reason:
        raise ValueError(reason)
    return expression


CronExpression = Annotated[str, AfterValidator(_validate)]
"""A settings field holding a cron expression; refused with a reason when invalid."""
