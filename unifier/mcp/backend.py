"""The seam between the MCP tools and the control plane.

The tools speak only to these protocols, with plain arguments and plain JSON-able
answers, so that the same tools run over the local catalog today
(:class:`unifier.mcp.local.LocalControlPlane`) and over the governed service layer
(a Principal per call, authorised and audited there) once it exists: an
implementation of the same methods that maps :class:`Agent` to that Principal.

Every method takes the calling :class:`Agent` first; its scope filters every answer
(see :mod:`unifier.mcp.scope`). A job outside the scope is answered exactly like a
job that does not exist (:class:`unifier.errors.NotFound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from unifier.mcp.scope import Scope

JSON = dict[str, Any]


@dataclass(frozen=True)
class Agent:
    """Who calls: the identity the control plane knows (a token name, an OIDC
    subject), its scope, and the person it says it acts for (recorded, not trusted)."""

    name: str
    scope: Scope = Scope()
    acting_for: str | None = None
    principal: Any = None  # served by unifier's API: the bearer token's Principal (authorises requests)


@runtime_checkable
class ControlPlaneReader(Protocol):
    """What the read tools need. Lists come back whole (already limited to the scope)
    unless they take ``limit``; the tools page them."""

    async def status(self, agent: Agent, *, states: list[str] | None = None, kinds: list[str] | None = None,
                     instance: str | None = None, job: str | None = None) -> list[JSON]:
        """One row per job: its last run and next expected run. ``job`` is a glob."""
        ...

    async def search_jobs(self, agent: Agent, query: str | None = None, *, kind: str | None = None,
                          instance: str | None = None) -> list[JSON]:
        """Jobs whose URI, name, description, owner or tags contain ``query``."""
        ...

    async def list_runs(self, agent: Agent, *, job: str | None = None, states: list[str] | None = None,
                        since_seconds: float | None = None, instance: str | None = None,
                        limit: int = 50, offset: int = 0) -> list[JSON]:
        """Runs, newest first: ``limit`` of them after skipping ``offset``."""
        ...

    async def get_run(self, agent: Agent, job: str, run_id: str) -> JSON:
        ...

    async def why(self, agent: Agent, job: str, run_id: str) -> JSON:
        """The causal chain of a run back to its root causes."""
        ...

    async def impact(self, agent: Agent, job: str) -> list[JSON]:
        """Everything downstream of a job, with the triggers on the way."""
        ...

    async def next_runs(self, agent: Agent, *, within_seconds: float) -> list[JSON]:
        """Runs expected within the window, from schedules and triggers, in time order."""
        ...

    async def logs_tail(self, agent: Agent, job: str, run_id: str, *, lines: int) -> JSON:
        """The last ``lines`` lines of a run's log, secrets redacted."""
        ...

    async def graph(self, agent: Agent) -> JSON:
        """The trigger graph: nodes, edges, triggers, cycles."""
        ...

    async def instances(self, agent: Agent) -> list[JSON]:
        """Each instance with its health and freshness (last sync, last observation)."""
        ...

    async def plan(self, agent: Agent, yaml_text: str) -> JSON:
        """What applying ``yaml_text`` would change, and the resulting trigger graph's
        problems. Applies nothing."""
        ...

    async def job_page(self, agent: Agent, job: str) -> JSON:
        """One job: its definition, last runs, triggers in and out."""
        ...


@runtime_checkable
class ControlPlaneRequester(Protocol):
    """What the write tools need. Every write is a *request*: it becomes an approval
    request attributed to the agent (and to whom it acts for), answered with its id
    and state, and is decided by a person outside the agent's channel. No method here
    approves anything."""

    async def request_run(self, agent: Agent, job: str, params: dict[str, Any], reason: str) -> JSON:
        ...

    async def request_cancel(self, agent: Agent, job: str, run_id: str, reason: str) -> JSON:
        ...

    async def request_pause_trigger(self, agent: Agent, trigger: str, reason: str) -> JSON:
        ...

    async def get_request(self, agent: Agent, request_id: str) -> JSON:
        """A request's state and, once approved and started, its run."""
        ...
