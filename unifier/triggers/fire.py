"""Fire: issue the ledger's pending firings through the downstream adapters, concurrently.

For each due pending firing: count the attempt, render the parameters once (a render
error fails the firing, recorded, nothing started), then for each action not yet
issued start the run through :func:`unifier.actions.trigger_job` with the action's
deterministic firing id (it records the run with its cause: this trigger, this firing,
the upstream runs), and note the run in the ledger. A crash anywhere re-issues the same
ids on the next attempt, and the adapter returns the run it already started. The kill
points of :mod:`unifier.triggers.faults` sit in that one path: ``after-downstream-call``
in ``trigger_job``, ``before-ledger-record`` here, between the runs and the ledger
(both written in batches across firings by :class:`_Recorder`).

A tool that is down (:class:`~unifier.errors.ToolUnavailable`, or a busy job) leaves
the firing pending with a backoff; a tool that refuses for good (no such job, bad
parameters) fails that action, and the firing once nothing is left to try.

Concurrency: :class:`Firer` issues each due firing in its own task, and a call to a
downstream tool waits for one of that instance's slots (``spec.max_concurrent_firings``),
so a slow tool (a Jenkins queue wait) delays only its own firings. Catalog work runs in
worker threads. Ledger writes pass the leader's fence (:mod:`unifier.leader`): a deposed
leader's firing stops at its next write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from unifier.actions import Started, record_started, trigger_job
from unifier.auth.approvals import MANUAL_TRIGGER, manual_cause
from unifier.catalog import Catalog, StoredInstance
from unifier.errors import JobBusy, NotFound, SecretError, ToolUnavailable, UnifierError
from unifier.instances import instance_spec
from unifier.leader import Deposed, Fence
from unifier.model import Cause, CauseKind, JobRef
from unifier.sync import RunRecorder
from unifier.triggers import ledger
from unifier.triggers.faults import fault_point
from unifier.triggers.render import RenderError, render_params, upstream_context
from unifier.triggers.store import Firing, StoredTrigger, get_trigger

log = logging.getLogger(__name__)

# worth another try later: the tool may come back, the lock may be released
RETRYABLE = (ToolUnavailable, JobBusy, SecretError, OSError, TimeoutError)
CLAIM_BATCH = 1000  # firings claimed (and rendered) per cycle, in a few transactions


@dataclass
class FireReport:
    issued: list[str] = field(default_factory=list)  # firing ids now fully issued
    failed: dict[str, str] = field(default_factory=dict)  # firing id -> error
    retrying: dict[str, str] = field(default_factory=dict)


class Firer:
    """The firings in flight, and each downstream instance's slots. ``fence`` is the
    leader's (``None``: a single process that leads by construction); ``recorder`` the
    process's run writer, shared with its syncs; ``on_outcome`` hears what each issue
    attempt came to: issued, failed or retrying (the loop's metrics)."""

    def __init__(self, catalog: Catalog, *, fence: Fence | None = None, recorder: RunRecorder | None = None,
                 on_outcome: Callable[[str], None] | None = None):
        self.catalog = catalog
        self.fence = fence
        self.on_outcome = on_outcome
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._slots: dict[str, tuple[int, asyncio.Semaphore]] = {}  # instance -> (limit, slots)
        self._recorder = _Recorder(catalog, fence, recorder or RunRecorder(catalog))

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def start_due(self, report: FireReport, *, now: datetime | None = None,
                        only: Collection[str] | None = None) -> list[asyncio.Task[None]]:
        """Claim the due firings not already in flight (of ``only``, when given: an
        approval issues the firing it released) and start a task for each; returns the
        new tasks."""
        in_flight = frozenset(self._in_flight)
        ready = await asyncio.to_thread(self._prepare, report, now, in_flight, only)
        started = []
        for firing, instances, cause in ready:
            task = asyncio.create_task(self._issue_logged(firing, instances, cause, report),
                                       name=f"firing {firing.id}")
            self._in_flight[firing.id] = task
            task.add_done_callback(partial(self._forget, firing.id))
            started.append(task)
        return started

    def _forget(self, firing_id: str, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(firing_id, None)

    async def drain(self, grace: float | None = None) -> None:
        """Wait for the firings in flight; cancel what is left after ``grace`` seconds (a
        cancelled firing stays pending in the ledger and is re-issued, idempotently)."""
        tasks = list(self._in_flight.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        if pending:
            log.warning("cancelling %d firing(s) still in flight; they stay pending", len(pending))
            self.cancel_all()
            await asyncio.wait(pending)

    def cancel_all(self) -> None:
        for task in self._in_flight.values():
            task.cancel()

    def _slots_of(self, stored: StoredInstance) -> asyncio.Semaphore:
        limit = instance_spec(stored).max_concurrent_firings
        have = self._slots.get(stored.instance.name)
        if have is None or have[0] != limit:  # first use, or the spec changed
            have = (limit, asyncio.Semaphore(limit))
            self._slots[stored.instance.name] = have
        return have[1]

    def _prepare(self, report: FireReport, now: datetime | None, in_flight: frozenset[str],
                 only: Collection[str] | None) -> list[tuple[Firing, dict[str, StoredInstance], Cause]]:
        """In a worker thread, a few transactions for the whole batch: claim the due
        firings (counting the attempt), render the parameters of those that have none yet
        (kept in the ledger), and read the downstream instances."""
        catalog, fence = self.catalog, self.fence
        firings = ledger.claim_due(catalog, now=now, limit=CLAIM_BATCH, skip=in_flight, only=only, fence=fence)
        if not firings:
            return []
        instances = {stored.instance.name: stored for stored in catalog.list_instances()}
        triggers: dict[str, StoredTrigger | None] = {}
        rendered: dict[str, list[dict[str, Any]]] = {}
        ready = []
        for firing in firings:
            if firing.trigger == MANUAL_TRIGGER:
                # an approved manual trigger (unifier.auth.approvals): no trigger spec, its
                # parameters were fixed when it was requested
                ready.append((firing, instances, manual_cause(catalog, firing.id)))
                continue
            if firing.trigger not in triggers:
                try:
                    triggers[firing.trigger] = get_trigger(catalog, firing.trigger)
                except NotFound:
                    triggers[firing.trigger] = None
            trigger = triggers[firing.trigger]
            if trigger is None:
                ledger.fail_firing(catalog, firing.id, f"trigger {firing.trigger} was deleted before it fired",
                                   fence)
                report.failed[firing.id] = "trigger deleted"
                continue
            if any(a.params is None for a in firing.actions):
                params = self._render(trigger, firing, report)
                if params is None:
                    continue
                rendered[firing.id] = params
            ready.append((firing, instances, Cause(kind=CauseKind.TRIGGER, actor="unifier", trigger=firing.trigger,
                                                   firing_id=firing.id, upstream_runs=firing.upstream_runs)))
        if rendered:
            ledger.set_params(catalog, rendered, fence)
        return ready

    def _render(self, trigger: StoredTrigger, firing: Firing, report: FireReport) -> list[dict[str, Any]] | None:
        """The parameters of each action, now set on ``firing``; None: the firing failed."""
        try:
            params = render_params(trigger.spec.then, trigger=trigger.name, firing_id=firing.id,
                                   fired_at=firing.created_at,
                                   upstream=upstream_context(self.catalog, firing.upstream_runs))
        except RenderError as exc:
            ledger.fail_firing(self.catalog, firing.id, str(exc), self.fence)
            report.failed[firing.id] = str(exc)
            log.error("firing %s of %s failed: %s", firing.id, trigger.name, exc)
            return None
        if len(params) != len(firing.actions):  # the spec changed under a pending firing
            params = (params + [{}] * len(firing.actions))[: len(firing.actions)]
        for action, rendered in zip(firing.actions, params, strict=True):
            if action.params is None:
                action.params = rendered
        return params

    async def _issue_logged(self, firing: Firing, instances: dict[str, StoredInstance], cause: Cause,
                            report: FireReport) -> None:
        try:
            await self.issue(firing, instances, cause, report)
            if self.on_outcome is not None:
                self.on_outcome("failed" if firing.id in report.failed else
                                "retrying" if firing.id in report.retrying else "issued")
        except Deposed as exc:
            log.warning("firing %s of %s stopped: %s", firing.id, firing.trigger, exc)
        except Exception:  # the catalog unreachable, a bug: the firing stays pending
            log.exception("firing %s of %s interrupted; it stays pending", firing.id, firing.trigger)

    async def issue(self, firing: Firing, instances: dict[str, StoredInstance], cause: Cause,
                    report: FireReport) -> None:
        """Start each action of a claimed firing that has no run yet; record it in the ledger."""
        catalog, fence = self.catalog, self.fence
        done = True
        for index, action in enumerate(firing.actions):
            if action.run_id or (action.error or "").startswith("refused: "):
                continue
            try:
                ref = JobRef.parse(action.job)
                stored = instances.get(ref.instance)
                if stored is None:
                    raise NotFound(f"no instance named {ref.instance!r} (see `unifier apply`)")
                async with self._slots_of(stored):
                    run = await trigger_job(catalog, action.job, action.params or {},
                                            firing_id=action.firing_id, cause=cause, fired_at=firing.created_at,
                                            stored=stored, record=partial(self._recorder.record, firing.id, index))
                log.info("trigger %s started %s run %s (firing %s)", firing.trigger, action.job,
                         run.run_id, firing.id, extra={"firing": firing.id, "job": action.job, "run": run.run_id})
            except Deposed:
                raise
            except RETRYABLE as exc:
                done = False
                await asyncio.to_thread(ledger.action_failed, catalog, firing.id, index, str(exc),
                                        retry=True, fence=fence)
                report.retrying[firing.id] = str(exc)
                log.warning("firing %s of %s: %s unavailable, retrying in %s: %s", firing.id,
                            firing.trigger, action.job, ledger.backoff(firing.attempts), exc)
                break
            except (UnifierError, ValueError) as exc:
                await asyncio.to_thread(ledger.action_failed, catalog, firing.id, index, str(exc),
                                        retry=False, fence=fence)
                report.failed[firing.id] = str(exc)
                log.error("firing %s of %s: %s refused: %s", firing.id, firing.trigger, action.job, exc)
            except Exception as exc:  # an adapter bug: keep the firing, try again later
                done = False
                message = f"{type(exc).__name__}: {exc}"
                await asyncio.to_thread(ledger.action_failed, catalog, firing.id, index, message,
                                        retry=True, fence=fence)
                report.retrying[firing.id] = message
                log.exception("firing %s of %s: unexpected error from %s", firing.id, firing.trigger,
                              action.job)
                break
        if done and firing.id not in report.failed:
            report.issued.append(firing.id)


class _Recorder:
    """Records the runs firings started, and their ledger entries, in batches: whatever
    arrived while the previous batch was being written goes in the next one, so the
    catalog sees a few transactions per batch instead of several per firing. Each firing
    waits for its own batch; a batch that fails fails each of its firings alike."""

    def __init__(self, catalog: Catalog, fence: Fence | None, runs: RunRecorder):
        self.catalog = catalog
        self.fence = fence
        self.runs = runs
        self._queue: list[tuple[Started, str, int, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, firing_id: str, index: int, started: Started) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((started, firing_id, index, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="firing recorder")
        await done

    async def _write_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await asyncio.to_thread(self._write, batch)
            except BaseException as exc:  # each firing's own error handling decides (retry, stop)
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                for *_, done in batch:
                    if not done.done():
                        done.set_result(None)

    def _write(self, batch: list[tuple[Started, str, int, asyncio.Future[None]]]) -> None:
        record_started(self.catalog, [started for started, *_ in batch], self.runs)
        fault_point("before-ledger-record")  # the runs are in the catalog; the ledger says pending
        ledger.record_actions(self.catalog, [(fid, index, started.run.key, started.cause)
                                             for started, fid, index, _ in batch], self.fence)
