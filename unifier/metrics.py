"""Prometheus metrics: ``GET /metrics``.

One :class:`UnifierMetrics` per application owns its registry (never prometheus-client's
global default one), so two apps in one process, or two tests, never share a number.

    unifier_runs{adapter,instance,state}             gauge: runs in the catalog, counted at scrape time
    unifier_sync_duration_seconds{instance}          histogram: one sync cycle of an instance
    unifier_sync_errors_total{instance}              counter: sync cycles that failed
    unifier_firings_total{outcome}                   counter: trigger firings and manual triggers by outcome
    unifier_approval_requests_waiting                gauge: approval requests awaiting a decision
    unifier_http_requests_total{method,route,status} counter: API requests, by route *template*
    unifier_scrape_source_up{source}                 gauge: 1 when a scrape-time source answered, else 0

Scrape-time numbers (runs, approvals) are read from the catalog when Prometheus asks, so
every replica reports the same truth; counters and histograms count what this process
did (the control loop runs in the leader only). The ``/metrics`` route is a plain ``def``:
FastAPI runs it in its thread pool, so the catalog query never blocks the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.params import Depends
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unifier.catalog import Catalog
from unifier.catalog.tables import InstanceRow, RunRow
from unifier.model import RunState

log = logging.getLogger("unifier.metrics")

# What a firing (or a manual trigger) came to. A fixed set bounds the label's values;
# anything else is counted as "other".
FIRING_OUTCOMES = ("issued", "failed", "retrying", "awaiting_approval", "approved", "rejected", "expired")

# One sync cycle takes from milliseconds (cron: a file read) to minutes (a large Airflow).
SYNC_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# The route label of a request that matched no route (404s): any path could come here,
# so the path itself is never a label value.
UNMATCHED_ROUTE = "<unmatched>"
# Likewise a client may send any method name: others are counted as "OTHER".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class UnifierMetrics:
    """The metrics of one unifier process and the registry that exposes them.

    ``catalog_factory`` returns the catalog to count runs in (as ``create_app`` takes it);
    ``approvals_waiting`` returns how many approval requests await a decision. Both are
    called at scrape time, in a worker thread; either may be left out (its metric is then
    not exported)."""

    def __init__(self, catalog_factory: Callable[[], Catalog] | None = None, *,
                 approvals_waiting: Callable[[], int] | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        self.sync_duration = Histogram(
            "unifier_sync_duration_seconds", "Duration of one sync cycle of an instance, in seconds.",
            ["instance"], buckets=SYNC_BUCKETS, registry=self.registry)
        self.sync_errors = Counter(
            "unifier_sync_errors", "Sync cycles of an instance that failed.", ["instance"], registry=self.registry)
        self.firings = Counter(
            "unifier_firings", "Trigger firings and manual triggers, by what they came to.", ["outcome"],
            registry=self.registry)
        for outcome in (*FIRING_OUTCOMES, "other"):
            self.firings.labels(outcome)  # exported at 0 from the start, so rate() sees the first one
        self.http_requests = Counter(
            "unifier_http_requests", "HTTP API requests, by method, route template and status code.",
            ["method", "route", "status"], registry=self.registry)
        self.registry.register(ScrapeTimeCollector(catalog_factory, approvals_waiting))

    # ------------------------------------------------------------------ recording

    def observe_sync(self, instance: str, seconds: float, error: bool = False) -> None:
        """One sync cycle of ``instance`` took ``seconds``; ``error`` when it failed."""
        self.sync_duration.labels(instance).observe(seconds)
        if error:
            self.sync_errors.labels(instance).inc()
        else:
            self.sync_errors.labels(instance)  # the instance shows with 0 errors, not absent

    def record_firing(self, outcome: str) -> None:
        """A firing or manual trigger came to ``outcome`` (one of :data:`FIRING_OUTCOMES`)."""
        if outcome not in FIRING_OUTCOMES:
            log.warning("firing outcome %r is not a known one; counted as 'other'", outcome)
            outcome = "other"
        self.firings.labels(outcome).inc()

    def record_request(self, method: str, route: str, status: int) -> None:
        method = method.upper() if method.upper() in HTTP_METHODS else "OTHER"
        self.http_requests.labels(method, route, str(status)).inc()

    # ------------------------------------------------------------------ exposing

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The registry's samples and their content type: the Prometheus text format, or
        OpenMetrics when ``accept`` (the scraper's Accept header) asks for it."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    def router(self, *, dependencies: Sequence[Depends] | None = None) -> APIRouter:
        """``GET /metrics``; ``dependencies`` (authentication, say) guard it."""
        return metrics_router(self, dependencies=dependencies)

    def install(self, app: FastAPI, *, dependencies: Sequence[Depends] | None = None) -> None:
        """Count ``app``'s requests and serve ``GET /metrics`` on it (before it starts)."""
        app.add_middleware(HTTPMetricsMiddleware, metrics=self)
        app.include_router(self.router(dependencies=dependencies))


def metrics_router(metrics: UnifierMetrics, *, dependencies: Sequence[Depends] | None = None) -> APIRouter:
    router = APIRouter(tags=["metrics"], dependencies=dependencies)

    @router.get("/metrics", response_class=Response, summary="Metrics in the Prometheus text format",
                responses={200: {"content": {"text/plain": {}}}})
    def read_metrics(request: Request) -> Response:
        # a plain def: FastAPI's thread pool runs it, and with it the catalog query
        body, content_type = metrics.exposition(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    return router


class ScrapeTimeCollector(Collector):
    """Numbers read when Prometheus scrapes: runs by state (one grouped catalog query)
    and approval requests waiting. A source that fails is reported down, not raised:
    the rest of the scrape still answers."""

    def __init__(self, catalog_factory: Callable[[], Catalog] | None,
                 approvals_waiting: Callable[[], int] | None):
        self.catalog_factory = catalog_factory
        self.approvals_waiting = approvals_waiting

    def describe(self) -> Iterable[Metric]:
        # names only: lets the registry refuse a clash without querying anything
        return [*self._runs_family([]), *self._approvals_family(None), self._up_family({})]

    def collect(self) -> Iterator[Metric]:
        up: dict[str, bool] = {}
        if self.catalog_factory is not None:
            try:
                counts = count_runs(self.catalog_factory())
                up["catalog"] = True
            except Exception as exc:  # a scrape reports the catalog down; it never fails whole
                log.warning("metrics: cannot count runs in the catalog: %s", type(exc).__name__)
                counts, up["catalog"] = [], False
            yield from self._runs_family(counts)
        if self.approvals_waiting is not None:
            waiting: int | None = None
            try:
                waiting = int(self.approvals_waiting())
                up["approvals"] = True
            except Exception as exc:
                log.warning("metrics: cannot count approval requests: %s", type(exc).__name__)
                up["approvals"] = False
            yield from self._approvals_family(waiting)
        yield self._up_family(up)

    def _runs_family(self, counts: list[tuple[str, str, str, int]]) -> Iterator[Metric]:
        if self.catalog_factory is None:
            return
        family = GaugeMetricFamily("unifier_runs", "Runs in the catalog, by adapter, instance and state.",
                                   labels=["adapter", "instance", "state"])
        for adapter, instance, state, runs in counts:
            family.add_metric([adapter, instance, state], runs)
        yield family

    def _approvals_family(self, waiting: int | None) -> Iterator[Metric]:
        if self.approvals_waiting is None:
            return
        family = GaugeMetricFamily("unifier_approval_requests_waiting", "Approval requests awaiting a decision.")
        if waiting is not None:
            family.add_metric([], waiting)
        yield family

    @staticmethod
    def _up_family(up: dict[str, bool]) -> Metric:
        family = GaugeMetricFamily("unifier_scrape_source_up",
                                   "1 when a scrape-time source (catalog, approvals) answered, else 0.",
                                   labels=["source"])
        for source, answered in sorted(up.items()):
            family.add_metric([source], 1 if answered else 0)
        return family


def count_runs(catalog: Catalog) -> list[tuple[str, str, str, int]]:
    """(adapter, instance, state, runs), every state of every instance that has runs
    (0 where none): one query, grouped in the database, joined to the small instances table."""
    per_instance = (select(RunRow.instance, RunRow.state, func.count().label("runs"))
                    .group_by(RunRow.instance, RunRow.state).subquery())
    query = (select(per_instance.c.instance, InstanceRow.adapter, per_instance.c.state, per_instance.c.runs)
             .outerjoin(InstanceRow, InstanceRow.name == per_instance.c.instance))
    counts: dict[tuple[str, str], dict[str, int]] = {}
    with catalog.session() as session:
        for instance, adapter, state, runs in session.execute(query):
            # runs of an instance deleted since keep their history; their adapter is unknown
            by_state = counts.setdefault((adapter or "unknown", instance), {s.value: 0 for s in RunState})
            by_state[state] = by_state.get(state, 0) + runs
    return [(adapter, instance, state, runs)
            for (adapter, instance), by_state in sorted(counts.items())
            for state, runs in by_state.items()]


class HTTPMetricsMiddleware:
    """Counts every HTTP request by method, route template (``/runs/{job}``, never the
    raw path: its values are bounded by the routes) and status code."""

    def __init__(self, app: ASGIApp, metrics: UnifierMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counted = False

        async def counting_send(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                # counted when the answer starts, so a long event stream counts at once
                counted = True
                self.metrics.record_request(scope["method"], route_template(scope), message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if not counted:  # the app failed before answering: the server answers 500
                self.metrics.record_request(scope["method"], route_template(scope), 500)


def route_template(scope: Scope) -> str:
    """The path template of the route that matched (the router records it in the scope)."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE
