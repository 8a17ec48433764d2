"""Acting on a tool through its adapter: trigger, wait, cancel, read logs.

A manual trigger gets a fresh firing id; unifier's triggers pass the firing id from
their ledger, so a retry starts nothing new. Who may act, and the audit of it, is the
service layer's (:mod:`unifier.service`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from unifier.catalog import Catalog
from unifier.instances import build_adapter
from unifier.model import Cause, CauseKind, JobRef, Run, utcnow


def new_manual_firing_id() -> str:
    return f"manual-{uuid.uuid4().hex}"


async def trigger_job(catalog: Catalog, uri: str, params: dict[str, Any], *,
                      firing_id: str | None = None, cause: Cause | None = None) -> Run:
    """Start a run of ``uri`` through its adapter and record it in the catalog."""
    ref = JobRef.parse(uri)
    stored = catalog.get_instance(ref.instance)
    firing_id = firing_id or new_manual_firing_id()
    cause = cause or Cause(kind=CauseKind.MANUAL, firing_id=firing_id)
    if cause.firing_id is None:
        cause = cause.model_copy(update={"firing_id": firing_id})
    adapter = build_adapter(stored)
    try:
        run = await adapter.trigger(ref.native_id, params, firing_id, fired_at=utcnow())
    finally:
        await adapter.close()
    run = run.model_copy(update={"cause": cause, "parameters": run.parameters or params})
    catalog.record_runs([run])
    return run


async def wait_for_run(catalog: Catalog, run: Run, *, timeout: float | None = None,
                       interval: float = 1.0) -> Run:
    """Poll the tool until the run is terminal, recording each observation."""
    ref = JobRef.parse(run.job)
    adapter = build_adapter(catalog.get_instance(ref.instance))
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while not run.state.terminal:
            if deadline is not None and time.monotonic() > deadline:
                break
            await asyncio.sleep(interval)
            run = await adapter.status(ref.native_id, run.run_id)
            catalog.record_runs([run])
    finally:
        await adapter.close()
    return catalog.get_run(run.job, run.run_id)


async def refresh_run(catalog: Catalog, uri: str, run_id: str) -> Run:
    """Ask the tool for one run's state now, record it, and return it as stored."""
    ref = JobRef.parse(uri)
    adapter = build_adapter(catalog.get_instance(ref.instance))
    try:
        catalog.record_runs([await adapter.status(ref.native_id, run_id)])
    finally:
        await adapter.close()
    return catalog.get_run(uri, run_id)


async def cancel_run(catalog: Catalog, uri: str, run_id: str) -> None:
    ref = JobRef.parse(uri)
    adapter = build_adapter(catalog.get_instance(ref.instance))
    try:
        await adapter.cancel(ref.native_id, run_id)
        catalog.record_runs([await adapter.status(ref.native_id, run_id)])
    finally:
        await adapter.close()


async def run_logs(catalog: Catalog, uri: str, run_id: str) -> str:
    ref = JobRef.parse(uri)
    adapter = build_adapter(catalog.get_instance(ref.instance))
    try:
        return await adapter.logs(ref.native_id, run_id)
    finally:
        await adapter.close()
