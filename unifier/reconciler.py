"""The control loop: sync -> evaluate -> fire, over and over (``unifier run``).

Level-triggered, in the Kubernetes sense: every decision is read from the catalog
(watermarks, the evaluation cursor, the firing ledger), so a restart continues where
the last process stopped. What this object keeps in memory is only *when* to sync
next; losing it costs one early sync.

- **sync**: each instance when its ``poll_interval`` is due, or at once when its
  webhook woke the loop (:meth:`Reconciler.wake`);
- **evaluate**: new terminal runs -> arrivals -> firings in the ledger;
- **fire**: pending firings -> downstream adapters;
- **observe**: downstream runs come back through sync like any other run.

Shutdown (SIGTERM, SIGINT) lets the current step finish and returns; nothing is lost
when it does not (see :mod:`unifier.triggers.faults`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unifier.catalog import Catalog
from unifier.errors import UnifierError
from unifier.instances import poll_interval
from unifier.model import as_utc, utcnow
from unifier.sync import AdapterPool, SyncReport, sync_all
from unifier.triggers.evaluate import EvaluationReport, evaluate
from unifier.triggers.fire import FireReport, fire_pending
from unifier.triggers.ledger import next_due_at

if TYPE_CHECKING:
    from unifier.api.serving import ServeOptions

log = logging.getLogger("unifier.reconciler")


@dataclass
class CycleReport:
    synced: list[SyncReport] = field(default_factory=list)
    evaluation: EvaluationReport = field(default_factory=EvaluationReport)
    fired: FireReport = field(default_factory=FireReport)
    seconds: float = 0.0


class Reconciler:
    """``interval`` is the longest the loop sleeps between cycles: it bounds how late a
    retried firing or a due sync can be. Instances sync on their own ``poll_interval``."""

    def __init__(self, catalog: Catalog, *, interval: float = 1.0):
        self.catalog = catalog
        self.interval = interval
        self.stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._requested: set[str] = set()
        self._next_sync: dict[str, float] = {}  # instance -> time.monotonic() when due
        self.adapters = AdapterPool()  # live connections and watch positions, not state

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
        done = 0
        try:
            while not self.stopping.is_set():
                try:
                    await self.cycle()
                except Exception:  # the catalog unreachable, a bug: say so, keep the loop alive
                    log.exception("cycle failed; retrying after %.1fs", self.interval)
                done += 1
                if cycles is not None and done >= cycles:
                    break
                await self._sleep()
        finally:
            await self.adapters.close()

    async def cycle(self) -> CycleReport:
        began = time.monotonic()
        report = CycleReport()
        names = self._due_instances()
        if names:
            report.synced = await sync_all(self.catalog, names, pool=self.adapters)
            for r in report.synced:
                if not r.ok:
                    log.warning("sync %s failed: %s", r.instance, r.error)
        if self.stopping.is_set():
            return report
        report.evaluation = evaluate(self.catalog)  # logs any trigger the storm guard pauses
        if self.stopping.is_set():
            return report
        report.fired = await fire_pending(self.catalog)
        report.seconds = time.monotonic() - began
        if report.evaluation.firings or report.fired.issued or report.fired.failed:
            log.info("cycle: %d firing(s) decided, %d issued, %d failed, %d retrying (%.3fs)",
                     len(report.evaluation.firings), len(report.fired.issued),
                     len(report.fired.failed), len(report.fired.retrying), report.seconds)
        return report

    def _due_instances(self) -> list[str]:
        now = time.monotonic()
        requested, self._requested = self._requested, set()
        self._woken.clear()
        due = []
        instances = self.catalog.list_instances()
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
        try:
            retry_at = next_due_at(self.catalog)
        except Exception:  # reported by the next cycle
            retry_at = None
        if retry_at is not None:
            timeout = min(timeout, max(0.0, (as_utc(retry_at) - utcnow()).total_seconds()))
        if self._woken.is_set():
            return
        try:
            await asyncio.wait_for(self._woken.wait(), timeout=timeout)
        except TimeoutError:
            pass


# ---------------------------------------------------------------------- with the API


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise UnifierError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
    return host or "127.0.0.1", int(port)


async def serve_api(app: object, listen: str, **uvicorn_options: Any) -> tuple[object, asyncio.Task[None]]:
    """Start uvicorn in this event loop; returns once it listens (or raises)."""
    import uvicorn

    class _Server(uvicorn.Server):
        # the control loop owns SIGTERM/SIGINT: uvicorn must not take them over
        def capture_signals(self):  # type: ignore[no-untyped-def]
            from contextlib import nullcontext

            return nullcontext()

    host, port = parse_listen(listen)
    # open event streams must not hold a SIGTERM for long: close them after 1 s
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                    lifespan="off", access_log=False, timeout_graceful_shutdown=1,
                                    **uvicorn_options))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            try:
                task.result()
            except BaseException as exc:  # uvicorn exits when it cannot bind
                raise UnifierError(f"cannot listen on {listen}: {exc!r}") from None
            raise UnifierError(f"cannot listen on {listen}")
        await asyncio.sleep(0.01)
    return server, task


async def run_forever(catalog: Catalog, *, interval: float = 1.0, listen: str | None = None,
                      cycles: int | None = None, serve: ServeOptions | None = None) -> None:
    """``unifier run``: the loop, the webhook beside it, until SIGTERM/SIGINT."""
    from unifier.api.serving import ServeOptions, build_api

    serve = serve or ServeOptions()

    reconciler = Reconciler(catalog, interval=interval)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, reconciler.stop)
    server = task = None
    try:
        if listen:
            app = build_api(catalog, parse_listen(listen)[0], serve, wake=reconciler.wake)
            server, task = await serve_api(app, listen, **serve.uvicorn_options())
            log.info("listening on %s://%s (POST /hooks/INSTANCE)", serve.scheme, listen)
        await reconciler.run(cycles=cycles)
    finally:
        if server is not None and task is not None:
            server.should_exit = True  # type: ignore[attr-defined]
            await task
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")


async def run_api_only(catalog: Catalog, listen: str, serve: ServeOptions | None = None) -> None:
    """``unifier serve``: the API without the control loop, until SIGTERM/SIGINT."""
    from unifier.api.serving import ServeOptions, build_api

    serve = serve or ServeOptions()
    app = build_api(catalog, parse_listen(listen)[0], serve)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server, task = await serve_api(app, listen, **serve.uvicorn_options())
    log.info("listening on %s://%s", serve.scheme, listen)
    await stopping.wait()
    server.should_exit = True  # type: ignore[attr-defined]
    await task
