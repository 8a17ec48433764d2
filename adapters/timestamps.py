"""Reading the timestamps tools write (ISO 8601 / RFC 3339) into aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: object) -> datetime | None:
    """``"2024-05-01T10:00:00Z"`` (or ``+02:00``) as an aware datetime. An empty value, or
    text that is not a timestamp, is None: a run with an unreadable time is still a run.
    A time without an offset is taken as UTC, as the tools that omit it mean."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
