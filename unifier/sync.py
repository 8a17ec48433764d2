"""One sync cycle: ask each instance's adapter what changed, store it.

For each instance: discover jobs when due (``discover_interval``), ask for runs
changed since the stored watermark, merge them into the catalog (which appends a
RunEvent per state change), then store the new watermark. The watermark moves only
after the runs are stored, so a crash mid-cycle re-reads rather than loses. A tool
that is down degrades only its own instance: the error is kept as its health.

Catalog calls run in a worker thread (``asyncio.to_thread``): a sync never holds the
event loop while the catalog waits for a lock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from unifier.adapter import Adapter
from unifier.catalog import Catalog, StoredInstance
from unifier.errors import UnifierError
from unifier.instances import build_adapter, instance_spec
from unifier.model import Run, RunEvent, utcnow

log = logging.getLogger(__name__)


class RunRecorder:
    """Stores observed runs for one process whose tasks write runs concurrently (the
    control loop: its syncs, and its firings recording the runs they started).

    Two of them may hold the same new run (a sync sees the run a firing just started).
    Written at once, one insert would fail on the unique key and roll back, and the run
    event ids its transaction took would become a gap that holds trigger evaluation for
    its grace period (:func:`unifier.triggers.evaluate._settled`). So this process's run
    writes take turns; the second merges into the row the first wrote. A conflict with
    another process (a CLI trigger) is still tried again."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._turn = threading.Lock()

    def record(self, runs: list[Run]) -> list[RunEvent]:
        with self._turn:
            try:
                return self.catalog.record_runs(runs)
            except IntegrityError:
                log.debug("a run was inserted by another process; recording %d run(s) again", len(runs))
                return self.catalog.record_runs(runs)


class AdapterPool:
    """Adapters kept alive across cycles by a long-running process (the control loop),
    so an adapter that holds a connection, a token or a watch position keeps it. An
    adapter is rebuilt when its instance's spec changes, and after a failed sync (a
    fresh connection is the cheapest cure for most tool outages)."""

    def __init__(self) -> None:
        self._live: dict[str, tuple[str, Adapter]] = {}
        self._closing: list[Adapter] = []

    def get(self, stored: StoredInstance) -> Adapter:
        name = stored.instance.name
        live = self._live.get(name)
        if live and live[0] == stored.spec_hash:
            return live[1]
        if live:
            self._closing.append(live[1])
        adapter = build_adapter(stored)
        self._live[name] = (stored.spec_hash, adapter)
        return adapter

    def discard(self, name: str) -> None:
        live = self._live.pop(name, None)
        if live:
            self._closing.append(live[1])

    async def close(self) -> None:
        for name in list(self._live):
            self.discard(name)
        await self.close_discarded()

    async def close_discarded(self) -> None:
        closing, self._closing = self._closing, []
        for adapter in closing:
            try:
                await adapter.close()
            except Exception:  # a connection that will not close cleanly is dropped anyway
                log.warning("closing the %s adapter of %s failed", adapter.kind, adapter.instance,
                            exc_info=True)


@dataclass
class SyncReport:
    instance: str
    ok: bool = True
    error: str | None = None
    discovered: dict[str, int] | None = None
    runs_seen: int = 0
    events: list[RunEvent] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    zone: str | None = None  # served by this zone's agent: not synced here


async def sync_instance(catalog: Catalog, name: str, *, discover: bool | None = None,
                        adapter: Adapter | None = None, pool: AdapterPool | None = None,
                        recorder: RunRecorder | None = None) -> SyncReport:
    """Sync one instance. ``discover``: True always, False never, None when due.
    The adapter comes from ``adapter``, else ``pool``, else is built for this call.
    ``recorder``: the process's, when other tasks write runs meanwhile."""
    recorder = recorder or RunRecorder(catalog)
    report = SyncReport(instance=name)
    began = time.monotonic()
    try:
        stored = await asyncio.to_thread(catalog.get_instance, name)
        if stored.spec.get("zone"):  # zones: its agent syncs it and pushes what it saw
            report.zone = stored.spec["zone"]
            return report
        if adapter is not None:
            await _sync(catalog, stored, adapter, discover, report, recorder)
        elif pool is not None:
            await _sync(catalog, stored, pool.get(stored), discover, report, recorder)
        else:
            async with build_adapter(stored) as own:
                await _sync(catalog, stored, own, discover, report, recorder)
    except UnifierError as exc:
        report.ok, report.error = False, str(exc)
    except Exception as exc:  # an adapter bug must not stop the other instances
        report.ok, report.error = False, f"{type(exc).__name__}: {exc}"
        log.warning("sync %s: unexpected error", name, exc_info=True)
    if not report.ok:
        if pool is not None:
            pool.discard(name)
        try:
            await asyncio.to_thread(catalog.update_sync_state, name, last_sync_at=utcnow(),
                                    last_error=report.error)
        except Exception:  # the catalog itself is failing: the next cycle reports it
            log.warning("sync %s: cannot record its error %r", name, report.error, exc_info=True)
    report.seconds = time.monotonic() - began
    return report


async def _sync(catalog: Catalog, stored: StoredInstance, adapter: Adapter, discover: bool | None,
                report: SyncReport, recorder: RunRecorder) -> None:
    name = stored.instance.name
    state = await asyncio.to_thread(catalog.get_sync_state, name)
    now = utcnow()
    due = state.last_discovered_at is None or (
        now - state.last_discovered_at >= instance_spec(stored).discover_interval)
    if discover or (discover is None and due):
        adapter.remember(await asyncio.to_thread(catalog.list_jobs, name))
        jobs = await adapter.discover()
        report.discovered = await asyncio.to_thread(catalog.upsert_jobs, name, jobs)
        await asyncio.to_thread(catalog.update_sync_state, name, last_discovered_at=now)
    changes = await adapter.changes(state.watermark)
    report.runs_seen = len(changes.runs)
    report.requests = changes.requests
    report.events = await asyncio.to_thread(recorder.record, changes.runs)
    health = await adapter.health()
    await asyncio.to_thread(catalog.update_sync_state, name, watermark=changes.watermark,
                            last_sync_at=utcnow(), last_observed_at=utcnow(), last_error=None,
                            health=health.model_dump(mode="json"))


async def sync_all(catalog: Catalog, names: list[str] | None = None, *,
                   discover: bool | None = None, concurrency: int = 8,
                   pool: AdapterPool | None = None, recorder: RunRecorder | None = None) -> list[SyncReport]:
    """Sync several instances concurrently (all by default)."""
    if names is None:
        names = [s.instance.name for s in await asyncio.to_thread(catalog.list_instances)]
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str) -> SyncReport:
        async with gate:
            return await sync_instance(catalog, name, discover=discover, pool=pool, recorder=recorder)

    reports = list(await asyncio.gather(*(one(n) for n in names)))
    if pool is not None:
        await pool.close_discarded()
    return reports
