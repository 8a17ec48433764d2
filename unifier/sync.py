"""One sync cycle: ask each instance's adapter what changed, store it.

For each instance: discover jobs when due (``discover_interval``), ask for runs
changed since the stored watermark, merge them into the catalog (which appends a
RunEvent per state change), then store the new watermark. The watermark moves only
after the runs are stored, so a crash mid-cycle re-reads rather than loses. A tool
that is down degrades only its own instance: the error is kept as its health.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from unifier.adapter import Adapter
from unifier.catalog import Catalog
from unifier.errors import UnifierError
from unifier.instances import build_adapter, instance_spec
from unifier.model import RunEvent, utcnow


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


async def sync_instance(catalog: Catalog, name: str, *, discover: bool | None = None,
                        adapter: Adapter | None = None) -> SyncReport:
    """Sync one instance. ``discover``: True always, False never, None when due."""
    report = SyncReport(instance=name)
    began = time.monotonic()
    own_adapter = adapter is None
    try:
        stored = catalog.get_instance(name)
        state = catalog.get_sync_state(name)
        if adapter is None:
            adapter = build_adapter(stored)
        now = utcnow()
        due = state.last_discovered_at is None or (
            now - state.last_discovered_at >= instance_spec(stored).discover_interval)
        if discover or (discover is None and due):
            jobs = await adapter.discover()
            report.discovered = catalog.upsert_jobs(name, jobs)
            catalog.update_sync_state(name, last_discovered_at=now)
        changes = await adapter.changes(state.watermark)
        report.runs_seen = len(changes.runs)
        report.requests = changes.requests
        report.events = catalog.record_runs(changes.runs)
        health = await adapter.health()
        catalog.update_sync_state(name, watermark=changes.watermark, last_sync_at=utcnow(),
                                  last_observed_at=utcnow(), last_error=None,
                                  health=health.model_dump(mode="json"))
    except UnifierError as exc:
        report.ok, report.error = False, str(exc)
    except Exception as exc:  # an adapter bug must not stop the other instances
        report.ok, report.error = False, f"{type(exc).__name__}: {exc}"
    finally:
        if own_adapter and adapter is not None:
            try:
                await adapter.close()
            except Exception:
                pass
    if not report.ok:
        try:
            catalog.update_sync_state(name, last_sync_at=utcnow(), last_error=report.error)
        except Exception:
            pass
    report.seconds = time.monotonic() - began
    return report


async def sync_all(catalog: Catalog, names: list[str] | None = None, *,
                   discover: bool | None = None, concurrency: int = 8) -> list[SyncReport]:
    """Sync several instances concurrently (all by default)."""
    if names is None:
        names = [s.instance.name for s in catalog.list_instances()]
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str) -> SyncReport:
        async with gate:
            return await sync_instance(catalog, name, discover=discover)

    return list(await asyncio.gather(*(one(n) for n in names)))
