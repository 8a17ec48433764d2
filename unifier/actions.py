"""Acting on a tool through its adapter: trigger, wait, cancel, read logs.

A manual trigger gets a fresh firing id; unifier's triggers pass the firing id from
their ledger, so a retry starts nothing new. Who may act, and the audit of a manual act,
is the service layer's (:mod:`unifier.service`); the runs the control loop's firings
start are audited here (:func:`record_started`), as the loop's.

Catalog calls run in a worker thread (``asyncio.to_thread``), never on the event loop:
the control loop calls :func:`trigger_job` for every firing while the same loop serves
the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from unifier.catalog import Catalog, StoredInstance
from unifier.model import Cause, CauseKind, JobRef, Run, utcnow
from unifier.sync import RunRecorder
from unifier.triggers.faults import fault_point
from unifier.zones.dispatch import adapter_for  # zones: in process, or queued for the zone agent

log = logging.getLogger(__name__)


def new_manual_firing_id() -> str:
    return f"manual-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Started:
    """A run a tool has just started for unifier, to be recorded with its cause."""

    run: Run
    params: dict[str, Any]
    firing_id: str
    cause: Cause


def record_started(catalog: Catalog, started: list[Started], recorder: RunRecorder | None = None) -> None:
    """Store runs the control loop's firings just started (one transaction for the runs)
    and audit each as the loop's act (who asked for a manual one is in its cause).
    ``recorder``: the control loop's, whose syncs may be storing the same runs now."""
    (recorder or RunRecorder(catalog)).record([s.run for s in started])
    for s in started:
        detail: dict[str, Any] = {"run_id": s.run.run_id, "firing_id": s.firing_id,
                                  "params": sorted(s.params), "cause": s.cause.kind.value}
        if s.cause.trigger:
            detail["trigger"] = s.cause.trigger
        if s.cause.actor and s.cause.actor != "unifier":
            detail["requested_by"] = s.cause.actor
        catalog.audit("trigger", s.run.job, detail, actor="unifier", source="loop")


async def trigger_job(catalog: Catalog, uri: str, params: dict[str, Any], *,
                      firing_id: str | None = None, cause: Cause | None = None,
                      fired_at: datetime | None = None, stored: StoredInstance | None = None,
                      record: Callable[[Started], Awaitable[None]] | None = None) -> Run:
    """Start a run of ``uri`` through its adapter and record it in the catalog.

    The one way unifier starts a run, by hand or for a trigger's firing. A firing
    (:mod:`unifier.triggers.fire`) passes the ledger's ``firing_id`` and ``fired_at``, so a
    repeated call adopts the run the first one started; the instance it already read as
    ``stored``; and ``record``, which stores the run (with :func:`record_started`) and its
    ledger entry, batched with other firings'. The kill point ``after-downstream-call``
    sits between the tool's answer and the catalog write."""
    ref = JobRef.parse(uri)
    if stored is None:
        stored = await asyncio.to_thread(catalog.get_instance, ref.instance)
    firing_id = firing_id or new_manual_firing_id()
    cause = cause or Cause(kind=CauseKind.MANUAL, firing_id=firing_id)
    if cause.firing_id is None:
        cause = cause.model_copy(update={"firing_id": firing_id})
    async with adapter_for(catalog, stored) as adapter:
        run = await adapter.trigger(ref.native_id, params, firing_id, fired_at=fired_at or utcnow())
    fault_point("after-downstream-call")
    run = run.model_copy(update={"cause": cause, "parameters": run.parameters or params})
    started = Started(run, params, firing_id, cause)
    if record is None:  # a manual trigger: the service layer audits the act
        await asyncio.to_thread(RunRecorder(catalog).record, [run])
    else:
        await record(started)
    return run


async def wait_for_run(catalog: Catalog, run: Run, *, timeout: float | None = None,  # noqa: ASYNC109
                       interval: float = 1.0) -> Run:
    """Poll the tool until the run is terminal, recording each observation. After
    ``timeout`` seconds it returns the run as last seen (it is not an error: the CLI
    shows the state and decides)."""
    ref = JobRef.parse(run.job)
    stored = await asyncio.to_thread(catalog.get_instance, ref.instance)
    deadline = None if timeout is None else time.monotonic() + timeout
    async with adapter_for(catalog, stored) as adapter:
        while not run.state.terminal:
            if deadline is not None and time.monotonic() > deadline:
                break
            await asyncio.sleep(interval)
            run = await adapter.status(ref.native_id, run.run_id)
            await asyncio.to_thread(RunRecorder(catalog).record, [run])
    return await asyncio.to_thread(catalog.get_run, run.job, run.run_id)


async def refresh_run(catalog: Catalog, uri: str, run_id: str) -> Run:
    """Ask the tool for one run's state now, record it, and return it as stored."""
    ref = JobRef.parse(uri)
    stored = await asyncio.to_thread(catalog.get_instance, ref.instance)
    async with adapter_for(catalog, stored) as adapter:
        run = await adapter.status(ref.native_id, run_id)
    await asyncio.to_thread(RunRecorder(catalog).record, [run])
    return await asyncio.to_thread(catalog.get_run, uri, run_id)


async def cancel_run(catalog: Catalog, uri: str, run_id: str) -> None:
    ref = JobRef.parse(uri)
    stored = await asyncio.to_thread(catalog.get_instance, ref.instance)
    async with adapter_for(catalog, stored) as adapter:
        await adapter.cancel(ref.native_id, run_id)
        run = await adapter.status(ref.native_id, run_id)
    await asyncio.to_thread(catalog.record_runs, [run])


async def run_logs(catalog: Catalog, uri: str, run_id: str) -> str:
    ref = JobRef.parse(uri)
    stored = await asyncio.to_thread(catalog.get_instance, ref.instance)
    async with adapter_for(catalog, stored) as adapter:
        return await adapter.logs(ref.native_id, run_id)
