"""Reading a whole Airflow listing, page by page (DAGs, DAG runs, task instances).

Airflow 3.2+ answers a keyset ``next_cursor`` on DAG runs: a run updated mid-way cannot
shift a page. Airflow 2, and 3 before 3.2, have no cursor (and ignore one): they page by
``offset`` until ``total_entries`` rows are read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unifier.adapters.airflow.client import Response
from unifier.errors import AdapterError

# fetch(cursor, offset): cursor is "" for the first keyset page, None when paging by offset
Fetch = Callable[[str | None, int], Response]


def read_pages(fetch: Fetch, key: str, *, keyset: bool = False) -> tuple[list[dict[str, Any]], Response]:
    """Every row under ``key`` of every page, and the first page's response (whose
    ``server_time`` dates the whole listing)."""
    rows: list[dict[str, Any]] = []
    first: Response | None = None
    cursor: str | None = "" if keyset else None
    offset = 0
    while True:
        resp = fetch(cursor, offset)
        first = first or resp
        page = listed(resp.body, key)
        rows += page
        if cursor is not None and "next_cursor" in resp.body:
            cursor = resp.body["next_cursor"]
            if not cursor or not page:
                return rows, first
        else:
            cursor = None
            offset += len(page)
            if not page or offset >= int(resp.body.get("total_entries") or 0):
                return rows, first


def listed(body: Any, key: str) -> list[dict[str, Any]]:
    """``body[key]``, which must be a list: anything else is a server we do not understand."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise AdapterError(f"Airflow answered without a {key!r} list: {str(body)[:200]}")
    return body[key]
