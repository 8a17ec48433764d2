"""Listings at scale: filters, scope and keyset pagination, all decided in SQL.

A page is read with ``LIMIT n + 1`` in an indexed order; when the extra row exists its
predecessor's sort key becomes the opaque cursor of the next page, and the next query
starts strictly after it (keyset pagination: a deep page costs what the first does,
and rows added meanwhile neither repeat nor shift the pages).

Scope is a filter, not only a gate: a caller limited to job-URI patterns sees rows of
matching jobs only, in every listing. Patterns follow :mod:`fnmatch` for ``*`` and
``?`` (``*`` crosses ``/``: ``jenkins://ci/team-a/*`` matches
``jenkins://ci/team-a/x/deploy``), are case-sensitive (SQLite too: the catalog turns
``case_sensitive_like`` on) and are translated into ``LIKE``, OR-ed. The ``text`` filter
ignores case.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select, true

from unifier.catalog.tables import InstanceRow, JobRow, LatestRunRow, RunRow, SyncStateRow
from unifier.model import RunState, as_utc

T = TypeVar("T")

_ESCAPE = "\\"


class BadPage(ValueError):
    """A cursor this listing did not give out, or a limit below 1: the caller's mistake."""


@dataclass
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is ``None`` on the last page."""

    items: list[T]
    next_cursor: str | None = None


# ---------------------------------------------------------------------- filters


@dataclass(frozen=True)
class JobFilter:
    """What job listings and the status view narrow by (all given ones must hold)."""

    tool: str | None = None  # adapter kind: the URI's scheme
    instance: str | None = None
    owner: str | None = None
    tag: str | None = None
    text: str | None = None  # substring of the URI or the display name
    states: Sequence[RunState] | None = None  # status view: state of the last run


@dataclass(frozen=True)
class RunFilter:
    """What run listings narrow by (all given ones must hold)."""

    job: str | None = None
    instance: str | None = None
    tool: str | None = None
    states: Sequence[RunState] | None = None
    since: datetime | None = None  # last activity at or after
    owner: str | None = None  # of the run's job
    tag: str | None = None  # of the run's job
    text: str | None = None  # substring of the job URI or the run id


def like_literal(text: str) -> str:
    """``text`` with LIKE's wildcards escaped, to match itself."""
    return text.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")


def glob_to_like(pattern: str) -> str:
    """A scope pattern as a LIKE pattern: ``*`` -> ``%``, ``?`` -> ``_``, the rest literal."""
    return "".join("%" if c == "*" else "_" if c == "?" else like_literal(c) for c in pattern)


def contains(column: Any, text: str, *, any_case: bool = False) -> ColumnElement[bool]:
    like = column.ilike if any_case else column.like
    return like(f"%{like_literal(text)}%", escape=_ESCAPE)  # type: ignore[no-any-return]


def starts_with(column: Any, text: str) -> ColumnElement[bool]:
    return column.like(f"{like_literal(text)}%", escape=_ESCAPE)  # type: ignore[no-any-return]


def scope_clause(column: Any, scope: Sequence[str] | None) -> ColumnElement[bool]:
    """Rows whose job URI in ``column`` matches one of the patterns; ``None``: every row."""
    if scope is None:
        return true()
    if not scope:
        return false()
    return or_(*(column.like(glob_to_like(p), escape=_ESCAPE) for p in scope))


def tagged(column: Any, tag: str) -> ColumnElement[bool]:
    """A JSON list column holding ``tag``: its JSON text holds the tag's JSON string."""
    from sqlalchemy import String, cast

    return contains(cast(column, String), json.dumps(tag))


# ---------------------------------------------------------------------- sort and cursor


@dataclass(frozen=True)
class SortKey:
    expr: Any  # a column or SQL expression
    descending: bool = False
    nullable: bool = False  # NULLs sort last, whatever the direction
    time: bool = False  # a datetime: carried in the cursor as ISO 8601


@dataclass(frozen=True)
class Sort:
    """A named order of a listing; its last key must make rows unique."""

    name: str
    keys: tuple[SortKey, ...]

    def order_by(self) -> list[Any]:
        order = []
        for key in self.keys:
            term = key.expr.desc() if key.descending else key.expr.asc()
            order.append(term.nulls_last() if key.nullable else term)
        return order

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after the row whose keys are ``values``, in this order."""
        alternatives = []
        for i, key in enumerate(self.keys):
            step = _beyond(key, values[i])
            if step is not None:
                same = [_equal(k, v) for k, v in zip(self.keys[:i], values[:i], strict=True)]
                alternatives.append(and_(*same, step))
        return or_(*alternatives) if alternatives else false()

    def encode(self, values: Sequence[Any]) -> str:
        raw = [as_utc(v).isoformat() if key.time and v is not None else v
               for key, v in zip(self.keys, values, strict=True)]
        return base64.urlsafe_b64encode(json.dumps([self.name, raw]).encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> list[Any]:
        try:
            name, raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if name != self.name or len(raw) != len(self.keys):
                raise ValueError("another listing's cursor")
            return [datetime.fromisoformat(v) if key.time and v is not None else v
                    for key, v in zip(self.keys, raw, strict=True)]
        except (ValueError, TypeError, binascii.Error) as exc:
            raise BadPage(f"cursor {cursor[:40]!r} is not one this listing gave out "
                           f"(sorted by {self.name}): {exc}") from None


def _equal(key: SortKey, value: Any) -> ColumnElement[bool]:
    return key.expr.is_(None) if value is None else key.expr == value  # type: ignore[no-any-return]


def _beyond(key: SortKey, value: Any) -> ColumnElement[bool] | None:
    if value is None:
        return None  # NULLs come last: nothing but other NULLs follows one
    step = key.expr < value if key.descending else key.expr > value
    return or_(step, key.expr.is_(None)) if key.nullable else step


def page(
    run: Callable[[Select[Any]], Sequence[Any]],
    query: Select[Any],
    sort: Sort,
    *,
    limit: int | None,
    cursor: str | None,
    item: Callable[[Any], T],
) -> Page[T]:
    """Read one page of ``query`` in ``sort``'s order; ``item`` makes an item of what the
    query selects (one entity, or a row: by name, the sort keys follow the selected
    columns). ``run`` executes a select, returning rows."""
    if limit is not None and limit < 1:
        raise BadPage(f"limit must be at least 1, not {limit}")
    single = len(query.column_descriptions) == 1  # one entity (or column): the item is it
    labels = [f"_sort{i}" for i in range(len(sort.keys))]
    query = query.add_columns(*(k.expr.label(name) for k, name in zip(sort.keys, labels, strict=True)))
    query = query.order_by(*sort.order_by())
    if cursor:
        query = query.where(sort.after(sort.decode(cursor)))
    if limit is not None:
        query = query.limit(limit + 1)
    rows = list(run(query))
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if more else rows
    next_cursor = sort.encode([rows[-1]._mapping[name] for name in labels]) if more else None
    return Page([item(row[0] if single else row) for row in rows], next_cursor)


# ---------------------------------------------------------------------- the catalog's listings


def job_clauses(where: JobFilter, scope: Sequence[str] | None) -> list[ColumnElement[bool]]:
    clauses = [scope_clause(JobRow.uri, scope)]
    if where.tool:
        clauses.append(JobRow.kind == where.tool)
    if where.instance:
        clauses.append(JobRow.instance == where.instance)
    if where.owner:
        clauses.append(JobRow.owner == where.owner)
    if where.tag:
        clauses.append(tagged(JobRow.tags, where.tag))
    if where.text:
        clauses.append(or_(contains(JobRow.uri, where.text, any_case=True),
                               contains(JobRow.name, where.text, any_case=True)))
    if where.states:
        clauses.append(RunRow.state.in_([s.value for s in where.states]))  # the status view joins it
    return clauses


def run_clauses(where: RunFilter, scope: Sequence[str] | None) -> list[ColumnElement[bool]]:
    clauses = [scope_clause(RunRow.job, scope)]
    if where.job:
        clauses.append(RunRow.job == where.job)
    if where.instance:
        clauses.append(RunRow.instance == where.instance)
    if where.tool:
        clauses.append(starts_with(RunRow.job, f"{where.tool}://"))
    if where.states:
        clauses.append(RunRow.state.in_([s.value for s in where.states]))
    if where.since:
        clauses.append(RunRow.updated_at >= where.since)
    if where.text:
        clauses.append(or_(contains(RunRow.job, where.text, any_case=True),
                               contains(RunRow.run_id, where.text, any_case=True)))
    if where.owner or where.tag:
        jobs = select(JobRow.uri).where(*job_clauses(JobFilter(owner=where.owner, tag=where.tag), None))
        clauses.append(RunRow.job.in_(jobs))
    return clauses


def instance_scope(scope: Sequence[str] | None) -> ColumnElement[bool]:
    """Instances that may hold a job in scope: the patterns' literal beginnings and the
    instance's ``KIND://NAME/`` agree as far as both go."""
    if scope is None:
        return true()
    root = InstanceRow.adapter + "://" + InstanceRow.name + "/"
    alternatives = []
    for pattern in scope:
        prefix = pattern.split("*", 1)[0].split("?", 1)[0]
        alternatives.append(or_(root.like(f"{like_literal(prefix)}%", escape=_ESCAPE),
                                literal(prefix).like(root + "%")))
    return or_(*alternatives) if alternatives else false()


def _sorts(*sorts: Sort) -> dict[str, Sort]:
    return {s.name: s for s in sorts}


def sort_named(sorts: dict[str, Sort], name: str | None) -> Sort:
    if name is None:
        return next(iter(sorts.values()))
    try:
        return sorts[name]
    except KeyError:
        raise BadPage(f"sort {name!r}: expected one of {', '.join(sorts)}") from None


LAST_RUN_AT = func.coalesce(RunRow.started_at, RunRow.queued_at, RunRow.ended_at)

JOB_SORTS = _sorts(Sort("uri", (SortKey(JobRow.uri),)))
_NEWEST_RUN_FIRST = (SortKey(LAST_RUN_AT, descending=True, nullable=True, time=True), SortKey(JobRow.uri))
STATUS_SORTS = _sorts(
    Sort("job", (SortKey(JobRow.uri),)),
    Sort("last_run", _NEWEST_RUN_FIRST),
    # the dashboard's names for its orders (pages/status.js): the same rows, sorted here
    Sort("-last_run_at", _NEWEST_RUN_FIRST),
    Sort("name", (SortKey(JobRow.name), SortKey(JobRow.uri))),
    Sort("instance", (SortKey(JobRow.instance), SortKey(JobRow.uri))),
    Sort("state", (SortKey(RunRow.state, nullable=True), SortKey(JobRow.uri))),
    # by the next run the tool predicts (a cron schedule's next time is worked out per page)
    Sort("next_run_at", (SortKey(JobRow.next_run_at, nullable=True, time=True), SortKey(JobRow.uri))),
)
RUN_SORTS = _sorts(  # newest first
    Sort("started", (SortKey(RunRow.started_at, descending=True, nullable=True, time=True),
                     SortKey(RunRow.id, descending=True))),
    Sort("updated", (SortKey(RunRow.updated_at, descending=True, time=True), SortKey(RunRow.id, descending=True))),
)


STATUS_COLUMNS = (
    JobRow.uri, JobRow.kind, JobRow.instance, JobRow.name, JobRow.schedule, JobRow.timezone, JobRow.paused,
    JobRow.next_run_at, RunRow.run_id, RunRow.state, RunRow.native_state, RunRow.queued_at,
    RunRow.started_at, RunRow.ended_at, SyncStateRow.last_error,
)


def status_query() -> Select[Any]:
    """Each current job, its latest run (if any) and its instance's last error: only the
    columns the status view shows (a row per job; no model objects on the way)."""
    return (select(*STATUS_COLUMNS)
            .select_from(JobRow)
            .outerjoin(LatestRunRow, LatestRunRow.job == JobRow.uri)
            .outerjoin(RunRow, RunRow.id == LatestRunRow.run)
            .outerjoin(SyncStateRow, SyncStateRow.instance == JobRow.instance)
            .where(JobRow.removed_at.is_(None)))
