"""Every tool call, recorded: who (the agent, and whom it says it acts for), which
tool, with which arguments (secrets redacted), and how it ended.

Today the record goes to the catalog's audit (:meth:`Catalog.audit`); the governance
layer's audit replaces :class:`CatalogAudit` with the same ``record`` method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio.to_thread

from unifier.catalog import Catalog
from unifier.mcp.backend import Agent
from unifier.mcp.redact import redactor_for

OK, DENIED, FAILED = "ok", "denied", "failed"


@dataclass(frozen=True)
class ToolCall:
    agent: Agent
    tool: str
    arguments: dict[str, Any]
    outcome: str  # ok | denied | failed
    error: str | None = None
    transport: str = "stdio"  # stdio | http
    source: str | None = None  # the client's address over HTTP
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        for name in ("job", "trigger", "request_id"):
            if isinstance(self.arguments.get(name), str):
                return self.arguments[name]
        return f"mcp/{self.tool}"


class AuditSink(Protocol):
    async def record(self, call: ToolCall) -> None: ...


class CatalogAudit:
    """Appends ``mcp.<tool>`` entries to the catalog's audit, off the event loop."""

    def __init__(self, catalog_factory: Callable[[], Catalog]):
        self._catalog_factory = catalog_factory

    async def record(self, call: ToolCall) -> None:
        await anyio.to_thread.run_sync(self._write, call)

    def _write(self, call: ToolCall) -> None:
        catalog = self._catalog_factory()
        redactor = redactor_for(catalog)
        detail: dict[str, Any] = {"tool": call.tool, "outcome": call.outcome, "transport": call.transport,
                                  "arguments": redactor.for_audit(call.arguments)}
        if call.agent.acting_for:
            detail["acting_for"] = call.agent.acting_for  # as the agent said: recorded, not trusted
        if call.error:
            detail["error"] = redactor.text(call.error)
        if call.source:
            detail["source"] = call.source
        detail.update(call.extra)
        catalog.audit(f"mcp.{call.tool}", call.target, detail, actor=call.agent.name)
