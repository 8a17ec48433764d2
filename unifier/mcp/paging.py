"""Pages of answers, so that one tool call never floods a model's context.

A cursor is opaque to the agent (base64 of the offset and the tool it belongs to);
a cursor from another tool, or one that was tampered with, is refused clearly.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class PagingError(ValueError):
    """A bad ``limit`` or ``cursor``: the agent's input, reported as such."""


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        raise PagingError(f"limit must be at least 1 (got {limit})")
    return min(limit, MAX_LIMIT)


def encode_cursor(tool: str, offset: int) -> str:
    raw = json.dumps({"t": tool, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(tool: str, cursor: str | None) -> int:
    """The offset a cursor points at (0 without one)."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = data["o"]
        owner = data["t"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise PagingError("invalid cursor: pass the next_cursor of a previous answer unchanged") from None
    if owner != tool or not isinstance(offset, int) or offset < 0:
        raise PagingError(f"this cursor does not belong to {tool}: pass the next_cursor it returned")
    return offset


def page(tool: str, items: Sequence[Any], limit: int | None, cursor: str | None) -> dict[str, Any]:
    """``{"items", "total", "next_cursor"}`` for a list known whole."""
    size = clamp_limit(limit)
    offset = decode_cursor(tool, cursor)
    chunk = list(items[offset:offset + size])
    more = offset + size < len(items)
    return {"items": chunk, "total": len(items),
            "next_cursor": encode_cursor(tool, offset + size) if more else None}


def page_of_fetched(tool: str, fetched: Sequence[Any], size: int, offset: int) -> dict[str, Any]:
    """For a list read ``size + 1`` at a time from ``offset``: the extra item tells
    whether there is more, without counting everything."""
    more = len(fetched) > size
    return {"items": list(fetched[:size]),
            "next_cursor": encode_cursor(tool, offset + size) if more else None}
