"""One interface for every read and act command, local or remote.

A command asks :func:`client` for its :class:`Client` and calls it; it never opens the
catalog itself. :class:`LocalClient` is the service layer as the local admin (whoever
can open the catalog holds everything in it); :class:`RemoteClient` speaks the HTTP API
of ``UNIFIER_SERVER`` (or ``--server``) with ``UNIFIER_TOKEN`` (or ``--token``) and
never opens a database. Both return the same objects, so a command prints the same
output and exits with the same status either way; the server's refusals come back as
the same errors (:class:`~unifier.errors.Forbidden` -> exit 1 with the server's message).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import click

from unifier.auth.approvals import Approval
from unifier.auth.tokens import TokenInfo
from unifier.catalog.audit import Verification
from unifier.catalog.listing import JobFilter, Page, RunFilter
from unifier.leader import LeaderInfo
from unifier.model import Job, Run, RunEvent
from unifier.plan import Plan
from unifier.service import Decision, TriggerOutcome, WhyAnswer
from unifier.status import InstanceRow, StatusRow
from unifier.triggers.graph import GraphTrigger


class Client(Protocol):
    """What the CLI can ask, wherever the control plane is."""

    def whoami(self) -> dict[str, Any]: ...
    # listings: filters, sort and paging as the catalog takes them (``limit=None``: all)
    def status(self, where: JobFilter | None = None, *, sort: str | None = None, limit: int | None = None,
               cursor: str | None = None) -> Page[StatusRow]: ...
    def jobs(self, where: JobFilter | None = None, *, limit: int | None = None,
             cursor: str | None = None) -> Page[Job]: ...
    def runs(self, where: RunFilter | None = None, *, sort: str | None = None, limit: int | None = 100,
             cursor: str | None = None) -> Page[Run]: ...
    def instances(self) -> list[InstanceRow]: ...
    def leader(self) -> LeaderInfo | None: ...
    def events(self, *, after: int = 0, job: str | None = None, limit: int = 1000) -> list[tuple[int, RunEvent]]: ...
    def graph_triggers(self) -> list[GraphTrigger]: ...
    def trigger_rows(self) -> list[dict[str, Any]]: ...
    def firing_rows(self, trigger: str | None, *, status: str | None, limit: int) -> list[dict[str, Any]]: ...
    def known_jobs(self) -> set[str]: ...
    def next(self, within: timedelta) -> list[dict[str, Any]]: ...
    def why(self, target: str, run_id: str | None = None) -> WhyAnswer: ...
    async def trigger(self, uri: str, params: dict[str, Any]) -> TriggerOutcome: ...
    async def refresh_run(self, job: str, run_id: str) -> Run: ...
    async def cancel(self, job: str, run_id: str) -> None: ...
    async def logs(self, job: str, run_id: str) -> str: ...
    def pause(self, name: str, reason: str) -> dict[str, Any]: ...
    def resume(self, name: str) -> dict[str, Any]: ...
    def approvals(self, state: str | None = None, limit: int = 100) -> list[Approval]: ...
    async def approve(self, approval_id: str, reason: str | None = None) -> Decision: ...
    async def reject(self, approval_id: str, reason: str) -> Decision: ...
    def validate_files(self, files: Sequence[Path]) -> list[dict[str, str]]: ...
    def apply_files(self, files: Sequence[Path], *, prune: bool, dry_run: bool) -> list[dict[str, Any]]: ...
    def plan_files(self, files: Sequence[Path], *, prune: bool, max_fan_out: int) -> Plan: ...
    def create_token(self, name: str, role: str, scopes: list[str] | None,
                     expires_in: timedelta | None) -> tuple[TokenInfo, str]: ...
    def tokens(self) -> list[TokenInfo]: ...
    def revoke_token(self, name: str) -> TokenInfo: ...
    def audit_entries(self, *, limit: int = 50, after: int = 0, actor: str | None = None,
                      action: str | None = None) -> list[dict[str, Any]]: ...
    def verify_audit(self) -> Verification: ...


@dataclass(frozen=True)
class Connection:
    """``--server``/``--token`` (or UNIFIER_SERVER/UNIFIER_TOKEN): where the CLI talks to."""

    server: str | None = None
    token: str | None = None

    @classmethod
    def from_env(cls, server: str | None = None, token: str | None = None) -> Connection:
        return cls(server or os.environ.get("UNIFIER_SERVER") or None,
                   token or os.environ.get("UNIFIER_TOKEN") or None)


def client() -> Client:
    """The client of the running command (set up by the root command's options)."""
    context = click.get_current_context(silent=True)
    root = context.find_root() if context else None
    connection = root.obj if root is not None and isinstance(root.obj, Connection) else Connection.from_env()
    if connection.server:
        from unifier.cli.remote import RemoteClient

        return RemoteClient(connection.server, connection.token)
    return LocalClient()


class LocalClient:
    """The service layer as the local admin, over the catalog this machine opens."""

    def __init__(self) -> None:
        self._service: Any = None

    @property
    def service(self) -> Any:
        if self._service is None:
            from unifier.auth import LOCAL_ADMIN
            from unifier.cli.output import open_catalog
            from unifier.service import Service

            self._service = Service(open_catalog(), LOCAL_ADMIN, source="cli")
        return self._service

    def __getattr__(self, name: str) -> Any:
        # every operation the Client protocol names is the service's own
        return getattr(self.service, name)

    def known_jobs(self) -> set[str]:
        return {j.uri for j in self.service.jobs().items}

    def trigger_rows(self) -> list[dict[str, Any]]:
        from unifier.api.views import trigger_view

        return [trigger_view(t) for t in self.service.triggers()]

    def firing_rows(self, trigger: str | None, *, status: str | None, limit: int) -> list[dict[str, Any]]:
        from unifier.api.views import firing_view

        return [firing_view(f) for f in self.service.firings(trigger, status=status, limit=limit)]

    def validate_files(self, files: Sequence[Path]) -> list[dict[str, str]]:
        from unifier.config import load_files

        config = load_files(files)  # refused whole before the catalog is opened
        return self.service.validate(config)

    def apply_files(self, files: Sequence[Path], *, prune: bool, dry_run: bool) -> list[dict[str, Any]]:
        from unifier.config import load_files

        config = load_files(files)
        changes = self.service.apply(config, prune=prune, dry_run=dry_run)
        return [{"kind": c.kind, "name": c.name, "action": c.action} for c in changes]

    def plan_files(self, files: Sequence[Path], *, prune: bool, max_fan_out: int) -> Plan:
        from unifier.config import load_files

        config = load_files(files)
        return self.service.plan(config, prune=prune, max_fan_out=max_fan_out)


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
