"""The control loop: sync -> evaluate -> fire, over and over (``unifier run``).

Level-triggered, in the Kubernetes sense: every decision is read from the catalog
(watermarks, the evaluation cursor, the firing ledger), so a restart continues where
the last process stopped. What this object keeps in memory is only *when* to sync
next and which firings are in flight; losing it costs one early sync and one
idempotent re-issue.

- **sync**: each instance when its ``poll_interval`` is due, or at once when its
  webhook woke the loop (:meth:`Reconciler.wake`);
- **evaluate**: new terminal runs -> arrivals -> firings in the ledger;
- **fire**: pending firings -> downstream adapters, concurrently (:class:`~unifier.triggers.fire.Firer`);
- **observe**: downstream runs come back through sync like any other run.

**Nothing blocks the event loop.** The catalog is synchronous (SQLAlchemy sessions; a
SQLite writer may wait up to its busy timeout for another process's lock), and the loop
that runs this reconciler also serves the HTTP API. So every catalog call runs in a
worker thread: the reconciler's (sync, evaluate, the ledger, firings) through
``asyncio.to_thread``, on the loop's default executor, a pool of :data:`LOOP_THREADS`
that :func:`run_forever` installs; the API's in FastAPI's own worker threads (anyio's
pool, see :mod:`unifier.api.server`). Two pools, so a loop whose threads all wait for a
write lock never starves a webhook or a status read, which in WAL mode need no lock.
The loop's syncs and firings store runs through one :class:`~unifier.sync.RunRecorder`,
in turn, so they never both insert the same new run (a rolled-back insert would leave a
gap in the run event ids that holds trigger evaluation).

**Firings run beside the cycle.** Each due firing is a task; the call to a downstream
tool waits for one of that instance's ``spec.max_concurrent_firings`` slots. A cycle
starts firings and goes on: a slow tool (a Jenkins queue wait of 30 s) holds only its
own slots, never the next sync or another instance's firings.

**One leader.** With a :class:`~unifier.leader.Leadership`, the loop runs only while
this replica leads; a standby checks every ``retry_interval`` and takes over when the
leader's lock is released (see :mod:`unifier.leader` for the lock and the fencing epoch
that every ledger write checks). Losing the lead cancels the firings in flight: they
stay pending in the ledger for the next leader.

Shutdown (SIGTERM, SIGINT) lets the current step finish, gives firings in flight
:data:`SHUTDOWN_GRACE` seconds, and steps down; nothing is lost when it does not (see
:mod:`unifier.triggers.faults`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from unifier.catalog import Catalog
from unifier.instances import poll_interval
from unifier.leader import LeaderSettings, Leadership, current_leader
from unifier.model import as_utc, utcnow
from unifier.pruner import Pruner
from unifier.sync import AdapterPool, RunRecorder, SyncReport, sync_all
from unifier.triggers.evaluate import EvaluationReport, Evaluator
from unifier.triggers.fire import Firer, FireReport
from unifier.triggers.ledger import next_due_at

if TYPE_CHECKING:
    from unifier.api.serving import ServeOptions
    from unifier.metrics import UnifierMetrics

log = logging.getLogger(__name__)

LOOP_THREADS = 16  # worker threads for the loop's catalog calls (and adapters' blocking clients)
SHUTDOWN_GRACE = 10.0  # seconds firings in flight may take to finish when the loop stops


@dataclass
class CycleReport:
    synced: list[SyncReport] = field(default_factory=list)
    evaluation: EvaluationReport = field(default_factory=EvaluationReport)
    fired: FireReport = field(default_factory=FireReport)
    started: int = 0  # firings started by this cycle
    seconds: float = 0.0


class Reconciler:
    """``interval`` is the longest the loop sleeps between cycles: it bounds how late a
    retried firing or a due sync can be. Instances sync on their own ``poll_interval``.
    ``leadership``: run only while this replica leads (``None``: always, one process)."""

    def __init__(self, catalog: Catalog, *, interval: float = 1.0, leadership: Leadership | None = None,
                 metrics: UnifierMetrics | None = None):
        self.catalog = catalog
        self.interval = interval
        self.leadership = leadership
        self.stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._requested: set[str] = set()
        self._next_sync: dict[str, float] = {}  # instance -> time.monotonic() when due
        self._renewed = 0.0  # time.monotonic() of the last heartbeat
        self._standing_by = False  # said so in the log already
        self.adapters = AdapterPool()  # live connections and watch positions, not state
        self.evaluator = Evaluator(catalog)  # gaps in event ids seen, parsed trigger rules
        self.pruner = Pruner(catalog)  # retention: small batches, off the event loop
        self.metrics = metrics  # sync durations and errors, firing outcomes (GET /metrics)
        self.runs = RunRecorder(catalog)  # syncs and firings write runs in turn
        self.firer = Firer(catalog, fence=leadership, recorder=self.runs,
                           on_outcome=metrics.record_firing if metrics else None)

    # -- control ----------------------------------------------------------------------

    def wake(self, instance: str) -> None:
        """Sync ``instance`` at once (a webhook said something changed there)."""
        self._requested.add(instance)
        self._woken.set()

    def stop(self) -> None:
        self.stopping.set()
        self._woken.set()

    # -- the loop ---------------------------------------------------------------------

    async def run(self, *, cycles: int | None = None) -> None:
        """Cycle until :meth:`stop` (or ``cycles`` cycles as leader)."""
        done = 0
        try:
            while not self.stopping.is_set():
                if not await self._lead():
                    self._woken.clear()  # a standby has nothing to sync: webhooks wait for a leader
                    self._requested.clear()
                    await self._pause(self.leadership.settings.retry_interval if self.leadership else 0)
                    continue
                try:
                    await self.cycle(wait=False)
                except Exception:  # the catalog unreachable, a bug: say so, keep the loop alive
                    log.exception("cycle failed; retrying after %.1fs", self.interval)
                done += 1
                if cycles is not None and done >= cycles:
                    break
                await self._sleep()
        finally:
            await self.firer.drain(SHUTDOWN_GRACE)
            await self.adapters.close()
            if self.leadership is not None:
                await asyncio.to_thread(self.leadership.release)

    async def cycle(self, *, wait: bool = True) -> CycleReport:
        """One pass. ``wait``: also wait for the firings it starts (tests, one-shot use);
        the running loop does not, so a slow tool never holds the next cycle."""
        began = time.monotonic()
        report = CycleReport()
        names = await self._due_instances()
        if names:
            report.synced = await sync_all(self.catalog, names, pool=self.adapters, recorder=self.runs)
            for r in report.synced:
                if self.metrics is not None and r.zone is None:  # a zone's agent syncs its own
                    self.metrics.observe_sync(r.instance, r.seconds, error=not r.ok)
                if not r.ok:
                    log.warning("sync %s failed: %s", r.instance, r.error,
                                extra={"instance": r.instance})
        if self.stopping.is_set():
            return report
        # logs any trigger the storm guard pauses
        report.evaluation = await asyncio.to_thread(self.evaluator.evaluate)
        if self.stopping.is_set():
            return report
        started = await self.firer.start_due(report.fired)
        report.started = len(started)
        if wait and started:
            await asyncio.wait(started)
        await asyncio.to_thread(self.pruner.step)  # retention: a small batch per cycle
        report.seconds = time.monotonic() - began
        if report.evaluation.firings or started:
            log.info("cycle: %d firing(s) decided, %d started, %d in flight (%.3fs)",
                     len(report.evaluation.firings), len(started), self.firer.in_flight, report.seconds)
        return report

    async def _lead(self) -> bool:
        """True while this replica leads: take the lead when free, renew it when due."""
        leadership = self.leadership
        if leadership is None:
            return True
        now = time.monotonic()
        if leadership.leading:
            if now - self._renewed < leadership.settings.renew_interval:
                return True
            self._renewed = now
            if await asyncio.to_thread(leadership.renew):
                return True
            self.firer.cancel_all()  # the next leader re-issues them, fenced and idempotent
            self._next_sync.clear()
            return False
        if await asyncio.to_thread(leadership.try_acquire):
            self._renewed = now
            self._next_sync.clear()  # a new leader syncs everything first
            self._standing_by = False
            return True
        if not self._standing_by:
            self._standing_by = True
            current = await asyncio.to_thread(current_leader, self.catalog)
            log.info("replica %s stands by: %s leads since %s", leadership.replica_id,
                     current.holder if current else "another replica",
                     current.acquired_at.isoformat() if current else "?")
        return False

    async def _due_instances(self) -> list[str]:
        now = time.monotonic()
        requested, self._requested = self._requested, set()
        self._woken.clear()
        due = []
        instances = await asyncio.to_thread(self.catalog.list_instances)
        for gone in set(self._next_sync) - {s.instance.name for s in instances}:
            del self._next_sync[gone]  # deleted by an apply meanwhile
        for stored in instances:
            name = stored.instance.name
            if name in requested or now >= self._next_sync.get(name, 0.0):
                due.append(name)
                self._next_sync[name] = now + poll_interval(stored).total_seconds()
        return due

    async def _sleep(self) -> None:
        now = time.monotonic()
        timeout = self.interval
        if self._next_sync:
            timeout = min(timeout, max(0.0, min(self._next_sync.values()) - now))
        if self.leadership is not None:
            timeout = min(timeout, max(0.0, self._renewed + self.leadership.settings.renew_interval - now))
        try:
            retry_at = await asyncio.to_thread(next_due_at, self.catalog)
        except Exception:  # reported by the next cycle
            retry_at = None
        retry_at = as_utc(retry_at)
        if retry_at is not None:
            timeout = min(timeout, max(0.0, (retry_at - utcnow()).total_seconds()))
        await self._pause(timeout)

    async def _pause(self, seconds: float) -> None:
        if self._woken.is_set():
            return
        try:
            await asyncio.wait_for(self._woken.wait(), timeout=seconds)
        except TimeoutError:
            pass


async def run_forever(catalog: Catalog, *, interval: float = 1.0, listen: str | None = None,
                      cycles: int | None = None, leader: LeaderSettings | None = None,
                      serve: ServeOptions | None = None) -> None:
    """``unifier run``: the loop (while this replica leads), the API beside it, until
    SIGTERM/SIGINT."""
    from unifier.api.server import ApiServer, parse_listen
    from unifier.api.serving import ServeOptions, build_api
    from unifier.auth.approvals import waiting_count
    from unifier.metrics import UnifierMetrics

    serve = serve or ServeOptions()

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(LOOP_THREADS, thread_name_prefix="unifier-loop"))
    leadership = Leadership(catalog, leader or LeaderSettings())
    metrics = UnifierMetrics(lambda: catalog, approvals_waiting=lambda: waiting_count(catalog))
    reconciler = Reconciler(catalog, interval=interval, leadership=leadership, metrics=metrics)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, reconciler.stop)
    server = None
    try:
        if listen:
            app = build_api(catalog, parse_listen(listen)[0], serve, wake=reconciler.wake, metrics=metrics)
            server = ApiServer(app, listen, **serve.uvicorn_options())
            await server.start()
            log.info("listening on %s://%s (POST /hooks/INSTANCE)", serve.scheme, listen)
        log.info("replica %s started", leadership.replica_id)
        await reconciler.run(cycles=cycles)
    finally:
        if server is not None:
            await server.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")
