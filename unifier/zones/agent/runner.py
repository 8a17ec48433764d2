"""The agent process: observe the zone's tools, execute the control plane's work,
deliver the outbox. Four loops share one event loop; every SQLite and catalog-free
blocking call runs in a thread.

- **refresh**: fetch the zone's instance specs (kept on disk for a restart while cut
  off); adapters are built here, so ``${env:}``/``${file:}`` resolve in the zone;
- **observe**: while this agent is the zone's active one, sync each instance on its
  poll interval, as the control plane's own sync does, queueing jobs, runs and health
  in the outbox with the watermark in the same transaction;
- **pull**: long-poll for work, store it, acknowledge it, execute it; the answer goes
  to the outbox with the work marked done, atomically;
- **deliver**: send the outbox in sequence order until the control plane acknowledges
  it; cut off, everything waits on disk and goes out, in order, once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from unifier.catalog import StoredInstance
from unifier.errors import NotFound, UnifierError
from unifier.instances import instance_spec, poll_interval
from unifier.model import Instance, JobRef, utcnow
from unifier.sync import AdapterPool
from unifier.triggers.faults import fault_point
from unifier.triggers.fire import RETRYABLE
from unifier.zones.agent.client import ControlPlane, OutboxGap
from unifier.zones.agent.store import AgentStore

log = logging.getLogger("unifier.agent")

RUNS_PER_MESSAGE = 500
LOG_TEXT_LIMIT = 1_000_000  # characters of a log sent back for one fetch
UNREACHABLE = (httpx.TransportError, httpx.HTTPStatusError, OSError)

# UNIFIER_FAULT=agent-after-trigger kills the agent after the tool started the run and
# before the answer is on disk (the fault-injection tests' kill point)
AFTER_TRIGGER = "agent-after-trigger"


@dataclass
class AgentOptions:
    server: str
    token: str
    zone: str
    state_dir: Path
    name: str
    version: str
    pull_wait: float = 20.0  # seconds a pull may wait for work
    refresh_seconds: float = 10.0  # how often instance specs are fetched again
    heartbeat_seconds: float = 60.0  # an instance's health is sent at least this often
    standby_poll_seconds: float = 2.0  # how often a standby agent checks the lease
    batch: int = 500  # outbox messages per request


def stored_instance(wire: dict[str, Any]) -> StoredInstance:
    now = utcnow()
    return StoredInstance(instance=Instance(name=wire["name"], kind=wire["adapter"]), spec=wire["spec"],
                          spec_hash=wire["spec_hash"], source=None, created_at=now, updated_at=now)


class Agent:
    def __init__(self, options: AgentOptions, *, transport: httpx.AsyncBaseTransport | None = None):
        self.options = options
        self.store = AgentStore(options.state_dir)
        self.agent_id = self.store.agent_id()
        self.control_plane = ControlPlane(options.server, options.token, zone=options.zone,
                                          agent_id=self.agent_id, name=options.name,
                                          version=options.version, transport=transport)
        self.adapters = AdapterPool()
        self.instances: dict[str, StoredInstance] = {}
        self.active = self.store.meta("active") == "1"  # last known, until the first pull
        self.connected = False
        self.stopping = asyncio.Event()
        self._outbox_ready = asyncio.Event()
        self._next_sync: dict[str, float] = {}
        self._reported: dict[str, tuple[bool, str | None, float]] = {}  # instance -> ok, error, when
        self._running: dict[int, asyncio.Task[None]] = {}

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        self._use_instances(await asyncio.to_thread(self.store.instances))
        for item in await asyncio.to_thread(self.store.unfinished):
            log.info("work %s (%s %s) has no answer yet: executing it again", item["id"], item["kind"],
                     item["job"])
            self._execute(item)
        loops = [asyncio.create_task(loop()) for loop in
                 (self._refresh_loop, self._observe_loop, self._pull_loop, self._deliver_loop)]
        try:
            await self.stopping.wait()
        finally:
            for task in [*loops, *self._running.values()]:
                task.cancel()
            await asyncio.gather(*loops, *self._running.values(), return_exceptions=True)
            await self.adapters.close()
            await self.control_plane.close()
            self.store.close()

    # -- instances ---------------------------------------------------------------------

    def _use_instances(self, wires: list[dict[str, Any]]) -> None:
        fresh = {w["name"]: stored_instance(w) for w in wires}
        for gone in set(self.instances) - set(fresh):
            self.adapters.discard(gone)
            self._next_sync.pop(gone, None)
        self.instances = fresh

    async def _refresh(self) -> None:
        wires = await self.control_plane.instances()
        await asyncio.to_thread(self.store.save_instances, wires)
        self._use_instances(wires)

    async def _refresh_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                await self._refresh()
            except UNREACHABLE as exc:
                log.debug("instance specs not fetched: %s", exc)
            await self._pause(self.options.refresh_seconds)

    # -- observing ---------------------------------------------------------------------

    async def _observe_loop(self) -> None:
        while not self.stopping.is_set():
            if self.active:
                now = time.monotonic()
                due = [n for n in self.instances if now >= self._next_sync.get(n, 0.0)]
                for name in due:
                    self._next_sync[name] = now + poll_interval(self.instances[name]).total_seconds()
                await asyncio.gather(*(self._observe(name) for name in due))
                await self.adapters.close_discarded()
            await self._pause(0.1)

    async def _observe(self, name: str) -> None:
        stored = self.instances[name]
        watermark, discovered_at = await asyncio.to_thread(self.store.watermark, name)
        at = utcnow().isoformat()
        messages: list[dict[str, Any]] = []
        try:
            adapter = self.adapters.get(stored)
            discovered = None
            due_every = instance_spec(stored).discover_interval.total_seconds()
            if discovered_at is None or time.time() - discovered_at >= due_every:
                jobs = await adapter.discover()
                messages.append({"kind": "jobs", "at": at, "instance": name,
                                 "jobs": [j.model_dump(mode="json") for j in jobs]})
                discovered = time.time()
            changes = await adapter.changes(watermark)
            for start in range(0, len(changes.runs), RUNS_PER_MESSAGE):
                messages.append({"kind": "runs", "at": at, "instance": name, "runs": [
                    r.model_dump(mode="json") for r in changes.runs[start:start + RUNS_PER_MESSAGE]]})
            health = await adapter.health()
            if self._report_due(name, health.ok, health.message or None) or messages:
                messages.append({"kind": "sync", "at": at, "instance": name, "ok": health.ok,
                                 "error": None, "health": health.model_dump(mode="json")})
            await asyncio.to_thread(self.store.queue, messages, instance=name,
                                    watermark=changes.watermark, discovered_at=discovered)
        except Exception as exc:  # the tool is down, or an adapter bug: report, keep going
            self.adapters.discard(name)
            error = str(exc) if isinstance(exc, UnifierError) else f"{type(exc).__name__}: {exc}"
            log.warning("sync %s failed: %s", name, error)
            if not self._report_due(name, False, error):
                return
            messages = [{"kind": "sync", "at": at, "instance": name, "ok": False, "error": error}]
            await asyncio.to_thread(self.store.queue, messages)
        self._outbox_ready.set()

    def _report_due(self, name: str, ok: bool, error: str | None) -> bool:
        """An instance's health goes out when it changes, and as a heartbeat."""
        last = self._reported.get(name)
        now = time.monotonic()
        if last and last[:2] == (ok, error) and now - last[2] < self.options.heartbeat_seconds:
            return False
        self._reported[name] = (ok, error, now)
        return True

    # -- work --------------------------------------------------------------------------

    async def _pull_loop(self) -> None:
        backoff = 0.2
        while not self.stopping.is_set():
            try:
                answer = await self.control_plane.pull(self.options.pull_wait)
                self._connected(True)
                backoff = 0.2
                await self._set_active(bool(answer["active"]))
                if not self.active:  # a standby: ask again now and then, ready to take over
                    await self._pause(self.options.standby_poll_seconds)
                    continue
                items = answer["work"]
                if items:
                    # on disk first; executed even if the acknowledgement is lost (then
                    # the work comes again, and is recognised and acknowledged again)
                    for item in await asyncio.to_thread(self.store.receive, items):
                        self._execute(item)
                    await self.control_plane.ack([i["id"] for i in items])
            except UNREACHABLE as exc:
                self._connected(False, exc)
                await self._pause(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _set_active(self, active: bool) -> None:
        if active != self.active:
            log.info("zone %s: this agent is now %s", self.options.zone, "active" if active else "standby")
            self.active = active
            await asyncio.to_thread(self.store.set_meta, "active", "1" if active else "0")

    def _execute(self, item: dict[str, Any]) -> None:
        if item["id"] in self._running:
            return
        work_id = item["id"]
        task = asyncio.create_task(self._do(item))
        self._running[work_id] = task

        def forget(_task: asyncio.Task[None]) -> None:
            self._running.pop(work_id, None)

        task.add_done_callback(forget)

    async def _do(self, item: dict[str, Any]) -> None:
        answer: dict[str, Any] = {"kind": "result", "at": utcnow().isoformat(), "work_id": item["id"]}
        try:
            answer.update(ok=True, **await self._perform(item))
        except RETRYABLE as exc:
            answer.update(ok=False, error=str(exc), error_type=type(exc).__name__, retryable=True)
        except (UnifierError, ValueError, KeyError) as exc:
            answer.update(ok=False, error=str(exc), error_type=type(exc).__name__, retryable=False)
        except Exception as exc:  # an adapter bug: worth another try, like the control plane's firing
            answer.update(ok=False, error=f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__,
                          retryable=True)
        answer["at"] = utcnow().isoformat()
        await asyncio.to_thread(self.store.answer, item["id"], item["attempt"], answer)
        self._outbox_ready.set()

    async def _perform(self, item: dict[str, Any]) -> dict[str, Any]:
        ref = JobRef.parse(item["job"])
        if ref.instance not in self.instances:
            with contextlib.suppress(*UNREACHABLE):
                await self._refresh()
        stored = self.instances.get(ref.instance)
        if stored is None:
            raise NotFound(f"instance {ref.instance} is not served by zone {self.options.zone}")
        adapter = self.adapters.get(stored)
        payload = item["payload"]
        if item["kind"] == "trigger":
            run = await adapter.trigger(payload["native_id"], payload.get("params") or {},
                                        payload["firing_id"],
                                        fired_at=datetime.fromisoformat(payload["fired_at"]))
            fault_point(AFTER_TRIGGER)
            log.info("work %s: %s run %s (firing %s)", item["id"], item["job"], run.run_id,
                     payload["firing_id"])
            return {"run": run.model_dump(mode="json")}
        if item["kind"] == "cancel":
            await adapter.cancel(payload["native_id"], payload["run_id"])
            return {}
        if item["kind"] == "logs":
            text = await adapter.logs(payload["native_id"], payload["run_id"])
            return {"text": text[-LOG_TEXT_LIMIT:]}
        raise ValueError(f"unknown work kind {item['kind']!r}")

    # -- delivery ----------------------------------------------------------------------

    async def _deliver_loop(self) -> None:
        backoff = 0.2
        while not self.stopping.is_set():
            self._outbox_ready.clear()
            batch = await asyncio.to_thread(self.store.pending, self.options.batch)
            if not batch:
                await self._pause(1.0, self._outbox_ready)
                continue
            try:
                answer = await self.control_plane.push(batch)
                self._connected(True)
                backoff = 0.2
                await asyncio.to_thread(self.store.delivered, int(answer["acked_seq"]))
                for refused in answer.get("refused") or []:
                    log.warning("message %s refused by the control plane: %s", refused["seq"],
                                refused["reason"])
            except OutboxGap as gap:
                await asyncio.to_thread(self.store.delivered, gap.acked_seq)
                if batch[0]["seq"] > gap.acked_seq + 1:
                    log.error("the control plane waits for message %d, which this agent no longer "
                              "holds (its state directory was replaced?)", gap.acked_seq + 1)
                    await self._pause(5.0)
            except UNREACHABLE as exc:
                self._connected(False, exc)
                await self._pause(backoff)
                backoff = min(backoff * 2, 5.0)

    # -- helpers -----------------------------------------------------------------------

    def _connected(self, connected: bool, exc: BaseException | None = None) -> None:
        if connected != self.connected:
            if connected:
                log.info("connected to %s", self.options.server)
            else:
                log.warning("control plane unreachable (%s); observations wait in the outbox", exc)
            self.connected = connected

    async def _pause(self, seconds: float, event: asyncio.Event | None = None) -> None:
        """Sleep, cut short by stop (and by ``event``)."""
        waits = [asyncio.create_task(self.stopping.wait())]
        if event is not None:
            waits.append(asyncio.create_task(event.wait()))
        _done, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in [*pending, *waits]:
            task.cancel()
