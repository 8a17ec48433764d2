"""The one dispatch point: an instance with a zone is reached through its agent.

:func:`adapter_for` is what the firing path and manual actions call instead of
building an adapter: for an instance without ``spec.zone`` it builds the adapter in
process, as always; for a zoned instance it returns a :class:`ZoneAdapter`, whose
trigger, cancel and log calls queue work for the zone's agent and wait (a bounded
time, off the event loop) for its answer.

A trigger's work is keyed by its firing id: a firing retried after a timeout or a
crash finds the same work item, and the agent passes the same firing id to the real
adapter, so neither side can start a second run. When the agent does not answer in
time, :class:`~unifier.errors.ToolUnavailable` leaves the firing pending (the ledger's
usual backoff); the work stays queued and is shown by ``unifier zones``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel

from unifier import errors
from unifier.adapter import Adapter, Capabilities, ChangeSet
from unifier.catalog import Catalog, StoredInstance
from unifier.instances import build_adapter
from unifier.model import Health, Job, Run, utcnow
from unifier.zones import lease, queue
from unifier.zones.settings import ZoneSettings

# exceptions an agent reports, rebuilt here by name so the firing path reacts alike
_KNOWN_ERRORS: dict[str, type[errors.UnifierError]] = {
    cls.__name__: cls for cls in (errors.NotFound, errors.TriggerRefused, errors.Unsupported,
                                  errors.JobBusy, errors.ToolUnavailable, errors.SecretError)
}


def zone_of(stored: StoredInstance) -> str | None:
    zone = stored.spec.get("zone")
    return zone if isinstance(zone, str) and zone else None


def adapter_for(catalog: Catalog, stored: StoredInstance, settings: ZoneSettings | None = None) -> Adapter:
    """The adapter to act on ``stored`` with: in process, or through its zone's agent."""
    zone = zone_of(stored)
    if zone is None:
        return build_adapter(stored)
    return ZoneAdapter(catalog, stored, zone, settings or ZoneSettings.from_env())


class _NoSettings(BaseModel):
    """A zone adapter resolves nothing: the spec's secrets are the agent's business."""


class ZoneAdapter(Adapter):
    kind = "zone"
    settings_model = _NoSettings
    capabilities: ClassVar[Capabilities] = Capabilities(cancel=True, logs=True)

    def __init__(self, catalog: Catalog, stored: StoredInstance, zone: str, settings: ZoneSettings):
        super().__init__(stored.instance.name, _NoSettings())
        self.catalog, self.zone, self.zone_settings = catalog, zone, settings
        self.tool_kind = stored.instance.kind

    def job_uri(self, native_id: str) -> str:
        return f"{self.tool_kind}://{self.instance}/{native_id}"

    # -- observation is the agent's: it pushes jobs and runs ---------------------------

    async def discover(self) -> list[Job]:
        raise errors.ToolUnavailable(f"instance {self.instance} is served by zone {self.zone}'s agent",
                                     instance=self.instance)

    async def changes(self, watermark: str | None) -> ChangeSet:
        raise errors.ToolUnavailable(f"instance {self.instance} is served by zone {self.zone}'s agent",
                                     instance=self.instance)

    async def status(self, native_id: str, run_id: str) -> Run:
        return await asyncio.to_thread(self.catalog.get_run, self.job_uri(native_id), run_id)

    async def health(self) -> Health:
        held = await asyncio.to_thread(lease.current, self.catalog, self.zone)
        return Health(ok=bool(held.agent_id), message="" if held.agent_id else f"no agent in zone {self.zone} yet")

    # -- acting: work for the agent ----------------------------------------------------

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *,
                      fired_at: datetime | None = None) -> Run:
        payload = {"native_id": native_id, "params": params, "firing_id": firing_id,
                   "fired_at": (fired_at or utcnow()).isoformat()}
        item = await self._ask(f"trigger:{self.job_uri(native_id)}:{firing_id}", "trigger",
                               native_id, payload)
        return Run.model_validate((item.result or {})["run"])

    async def cancel(self, native_id: str, run_id: str) -> None:
        await self._ask(f"cancel:{uuid.uuid4().hex}", "cancel", native_id,
                        {"native_id": native_id, "run_id": run_id})

    async def logs(self, native_id: str, run_id: str) -> str:
        item = await self._ask(f"logs:{uuid.uuid4().hex}", "logs", native_id,
                               {"native_id": native_id, "run_id": run_id})
        return str((item.result or {}).get("text") or "")

    async def _ask(self, key: str, kind: str, native_id: str, payload: dict[str, Any]) -> queue.WorkItem:
        item = await asyncio.to_thread(queue.enqueue, self.catalog, self.zone, key, kind,
                                       self.job_uri(native_id), payload)
        silent = await asyncio.to_thread(lease.silent_since, self.catalog, self.zone,
                                         self.zone_settings.lease_seconds)
        # a zone cut off answers nothing: say so at once rather than hold the caller
        wait = 0.0 if silent and not item.finished else self.zone_settings.answer_wait_seconds
        deadline = time.monotonic() + wait
        while not item.finished:
            if time.monotonic() >= deadline:
                waited = (utcnow() - item.created_at).total_seconds()
                why = (f"no agent in contact since {silent.isoformat()}" if silent and silent.year > 1970
                       else "no agent has called in yet" if silent else "its agent has not answered")
                raise errors.ToolUnavailable(
                    f"zone {self.zone}: {why}; {kind} work {item.id} waits "
                    f"({waited:.0f}s so far; see `unifier zones`)", instance=self.instance)
            await asyncio.sleep(self.zone_settings.check_interval_seconds)
            item = await asyncio.to_thread(queue.get, self.catalog, self.zone, key)
        if item.state == "failed":
            error_cls = _KNOWN_ERRORS.get(item.error_type or "")
            if item.retryable:  # the tool in the zone was down: the firing retries later
                raise errors.ToolUnavailable(f"zone {self.zone}: {item.error}", instance=self.instance)
            raise (error_cls or errors.AdapterError)(f"zone {self.zone}: {item.error}")
        return item
