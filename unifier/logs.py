"""Logging for the long-running commands (``unifier run``, ``unifier serve``).

Every module logs through its own ``logging.getLogger(__name__)``. ``--log-format json``
writes one JSON object per line, for a log shipper: ``time`` (ISO 8601, UTC), ``level``,
``logger``, ``message``, then any ``extra={...}`` fields the call passed (a firing id, a
job), and ``exception`` with the traceback when there is one.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# attributes every LogRecord has: whatever else a record carries came from ``extra=``
_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {"message", "asctime"}
_QUIET = ("httpx", "httpcore", "uvicorn", "uvicorn.error", "alembic")


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(*, verbose: bool = False, fmt: LogFormat = LogFormat.text) -> None:
    """Log to stderr at INFO (DEBUG when ``verbose``), as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == LogFormat.json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in _QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
