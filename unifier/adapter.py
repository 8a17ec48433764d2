"""The adapter contract: the only code that speaks a tool's protocol.

An adapter class serves one kind of tool ("cron", "airflow"); one object of it serves
one configured instance. Every method is ``async``: blocking client libraries are
called through ``asyncio.to_thread``. The conformance suite
(:mod:`unifier.testing.conformance`) is the executable definition of this contract.

Primitives every adapter implements:

``discover()``
    Every job of the instance, as :class:`~unifier.model.Job`. Called on a slower
    cadence than ``changes`` (see ``Instance.discover_interval``).
``changes(watermark)``
    Runs created or changed since ``watermark`` (an opaque string this adapter
    returned last time; ``None`` on the first call) and the new watermark. The cost
    must grow with what changed, not with how many jobs exist. Returning a run that
    did not change is harmless (the catalog de-duplicates); missing one is a bug.
``trigger(native_id, params, firing_id, *, fired_at=None)``
    Start a run, idempotently: calling again with the same ``firing_id`` returns the
    run the first call started and never starts a second one, even if the first call
    crashed half-way. Returns the run as first observed. ``fired_at`` is when unifier
    recorded the firing (its ledger time); a tool with no idempotency key (Jenkins)
    adopts only a run it finds started after it.
``status(native_id, run_id)``
    One run, read fresh from the tool.

Optional, declared in :class:`Capabilities`: ``cancel``, ``logs``.

An adapter is an async context manager: ``async with build_adapter(stored) as adapter:``
closes its connections however the block ends.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self

from pydantic import BaseModel

from unifier.errors import Unsupported
from unifier.model import Health, Job, Run, RunState


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can do, as class-level facts (the conformance suite reads them)."""

    trigger: bool = True
    cancel: bool = False
    logs: bool = False
    schedules: bool = False  # jobs carry a schedule the forecast can use
    push: bool = False  # the tool can notify unifier's webhook
    parameters: bool = True  # trigger() passes params through to the run

    def names(self) -> list[str]:
        return [name for name, on in self.__dict__.items() if on]


@dataclass
class ChangeSet:
    """What ``changes()`` found: runs to upsert and the watermark to store after them."""

    runs: list[Run]
    watermark: str | None
    requests: int = 0  # requests made to the tool, for the benchmarks
    notes: list[str] = field(default_factory=list)


class Adapter(ABC):
    """Base class of every adapter. Subclasses set the class attributes and implement
    the abstract methods; ``settings`` is an instance of ``settings_model`` with every
    secret reference already resolved (it lives in memory only)."""

    kind: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]]
    capabilities: ClassVar[Capabilities] = Capabilities()
    # native state -> normalized state. Unmapped native states map to unknown.
    state_map: ClassVar[Mapping[str, RunState]] = {}

    def __init__(self, instance: str, settings: BaseModel):
        self.instance = instance
        self.settings = settings

    # -- identity helpers -------------------------------------------------------------

    def job_uri(self, native_id: str) -> str:
        return f"{self.kind}://{self.instance}/{native_id}"

    def new_job(self, native_id: str, **fields: Any) -> Job:
        return Job.build(self.kind, self.instance, native_id, **fields)

    # -- the contract -------------------------------------------------------------------

    @abstractmethod
    async def discover(self) -> list[Job]: ...

    @abstractmethod
    async def changes(self, watermark: str | None) -> ChangeSet: ...

    @abstractmethod
    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *,
                      fired_at: datetime | None = None) -> Run: ...

    @abstractmethod
    async def status(self, native_id: str, run_id: str) -> Run: ...

    async def cancel(self, native_id: str, run_id: str) -> None:
        raise Unsupported(f"{self.kind} adapter cannot cancel runs", instance=self.instance)

    async def logs(self, native_id: str, run_id: str) -> str:
        raise Unsupported(f"{self.kind} adapter cannot fetch logs", instance=self.instance)

    async def health(self) -> Health:
        return Health(ok=True)

    def remember(self, jobs: Sequence[Job]) -> None:
        """Called before ``discover()`` with the jobs the catalog holds for this instance,
        as the last discovery stored them (``extra`` included). An adapter may reuse what
        it derived then instead of asking the tool again, so a new process (a one-shot
        ``unifier sync``) costs what a long-running one does. Default: ignored."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional: most adapters hold nothing to release
        """Release connections. Called once when the adapter is no longer needed."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()


def run_id_for_firing(firing_id: str, prefix: str = "unifier", length: int = 16) -> str:
    """A deterministic native run id for a firing: the same firing always names the
    same run, so a retried trigger collides with the first instead of starting another."""
    digest = hashlib.sha256(firing_id.encode()).hexdigest()[:length]
    return f"{prefix}-{digest}"
