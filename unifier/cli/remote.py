"""The CLI against a remote unifier server: the :class:`~unifier.cli.client.Client`
operations over the HTTP API, answers turned back into the objects the local service
returns and error statuses back into the error tree (so exit codes match)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from unifier.apply import Change
from unifier.auth.approvals import Approval
from unifier.auth.roles import Role
from unifier.auth.tokens import TokenInfo
from unifier.catalog.audit import Verification
from unifier.catalog.listing import JobFilter, Page, RunFilter
from unifier.duration import format_duration
from unifier.errors import (
    AdapterError,
    ConfigError,
    Forbidden,
    InvalidInput,
    NotFound,
    Problem,
    ToolUnavailable,
    TriggerRefused,
    Unauthenticated,
    UnifierError,
)
from unifier.leader import LeaderInfo
from unifier.model import Job, Run, RunEvent, utcnow
from unifier.plan import Estimate, Plan, PlanWarning
from unifier.service import Decision, TriggerOutcome, WhyAnswer
from unifier.status import InstanceRow, StatusRow
from unifier.triggers.graph import Cycle, GraphTrigger, TriggerGraph
from unifier.triggers.spec import TriggerSpec

TIMEOUT = httpx.Timeout(120.0, connect=10.0)  # a trigger waits for the tool's answer
MAX_PAGE = 10_000  # the API's largest page (``limit``)
_PROBLEM = re.compile(r"^(.*):(\d+): (.*)$", re.S)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _approval(data: dict[str, Any]) -> Approval:
    return Approval(data["id"], data["job"], data["params"], data["requested_by"],
                    datetime.fromisoformat(data["requested_at"]), datetime.fromisoformat(data["expires_at"]),
                    data["state"], data["policy"], data["required"], data["decisions"])


def _token(data: dict[str, Any]) -> TokenInfo:
    return TokenInfo(data["name"], Role(data["role"]), tuple(data["scopes"]),
                     _time(data.get("created_at")) or datetime.min, data.get("created_by") or "",
                     _time(data.get("expires_at")), _time(data.get("revoked_at")))


def _problem(text: str) -> Problem:
    match = _PROBLEM.match(text)
    return Problem(match.group(1), int(match.group(2)), match.group(3)) if match else Problem("-", 0, text)


def _files(files: Sequence[Path]) -> dict[str, str]:
    """Each file's text keyed by its absolute path (the server resolves relative paths in
    a document against the file's directory, as locally)."""
    from unifier.config.loader import expand_paths

    texts = {}
    for path in expand_paths(files):
        try:
            texts[str(path.resolve())] = path.read_text()
        except OSError as exc:
            raise ConfigError([Problem(str(path), 0, f"cannot read file: {exc.strerror}")]) from None
    if not texts:
        raise ConfigError([Problem("-", 0, "no configuration files given")])
    return texts


def _job_params(where: JobFilter | None) -> dict[str, Any]:
    where = where or JobFilter()
    paused = None if where.paused is None else str(where.paused).lower()
    states = ["never" if s is None else s.value for s in where.states] if where.states else None
    return {"tool": where.tool, "instance": where.instance, "owner": where.owner, "tag": where.tag,
            "text": where.text, "paused": paused, "state": states}


class RemoteClient:
    def __init__(self, server: str, token: str | None, *, verify: bool | str = True):
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.server, headers=headers, timeout=TIMEOUT, verify=verify)

    # ------------------------------------------------------------------ transport

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ToolUnavailable(f"cannot reach unifier server {self.server}: {exc}") from None
        if response.status_code >= 400:
            raise self._error(response)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    @staticmethod
    def _error(response: httpx.Response) -> UnifierError:
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:500] or response.reason_phrase}
        detail = body.get("detail") if isinstance(body, dict) else str(body)
        message = detail if isinstance(detail, str) else str(detail)
        code = response.status_code
        if code == 422 and isinstance(body, dict) and body.get("problems"):
            return ConfigError([_problem(p) for p in body["problems"]])
        if code in (400, 422):
            return InvalidInput(message)
        if code == 401:
            return Unauthenticated(f"server refused the credential: {message}")
        if code == 403:
            return Forbidden(message, permission=body.get("missing_permission") if isinstance(body, dict) else None)
        if code == 404:
            return NotFound(message)
        if code == 409:
            return TriggerRefused(message)
        if code in (502, 503):
            return ToolUnavailable(message) if code == 503 else AdapterError(message)
        return UnifierError(f"server error {code}: {message}")

    def _get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call("POST", path, json=body or {})

    # ------------------------------------------------------------------ reads

    def whoami(self) -> dict[str, Any]:
        return dict(self._get("/api/whoami"))

    def _pages(self, path: str, params: dict[str, Any], limit: int | None, cursor: str | None) -> Page[Any]:
        """Rows of a paginated listing: page after page by the cursor in each answer's
        ``Link: <...>; rel="next"`` header, until ``limit`` rows (all without one)."""
        rows: list[Any] = []
        while True:
            want = MAX_PAGE if limit is None else min(MAX_PAGE, limit - len(rows))
            query = {k: v for k, v in {**params, "limit": want, "cursor": cursor}.items() if v is not None}
            try:
                response = self.http.get(path, params=query)
            except httpx.HTTPError as exc:
                raise ToolUnavailable(f"cannot reach unifier server {self.server}: {exc}") from None
            if response.status_code >= 400:
                raise self._error(response)
            rows += response.json()
            following = response.links.get("next", {}).get("url")
            cursor = httpx.URL(following).params.get("cursor") if following else None
            if cursor is None or (limit is not None and len(rows) >= limit):
                return Page(rows, cursor)

    def status(self, where: JobFilter | None = None, *, sort: str | None = None, limit: int | None = None,
               cursor: str | None = None) -> Page[StatusRow]:
        found = self._pages("/api/status", {**_job_params(where), "sort": sort}, limit, cursor)
        return Page([StatusRow.model_validate(r) for r in found.items], found.next_cursor)

    def jobs(self, where: JobFilter | None = None, *, limit: int | None = None,
             cursor: str | None = None) -> Page[Job]:
        found = self._pages("/api/jobs", _job_params(where), limit, cursor)
        return Page([Job.model_validate(j) for j in found.items], found.next_cursor)

    def runs(self, where: RunFilter | None = None, *, sort: str | None = None, limit: int | None = 100,
             cursor: str | None = None) -> Page[Run]:
        where = where or RunFilter()
        # the API takes a window ("since=90s"): the same instant, rounded one second earlier
        window = format_duration(utcnow() - where.since + timedelta(seconds=1)) if where.since else None
        params = {"job": where.job, "instance": where.instance, "tool": where.tool, "owner": where.owner,
                  "tag": where.tag, "text": where.text, "since": window, "sort": sort,
                  "state": [s.value for s in where.states] if where.states else None}
        found = self._pages("/api/runs", params, limit, cursor)
        return Page([Run.model_validate(r) for r in found.items], found.next_cursor)

    def leader(self) -> LeaderInfo | None:
        data = self._get("/api/leader")
        if not data:
            return None
        return LeaderInfo(data["replica"], data["epoch"], datetime.fromisoformat(data["since"]),
                          datetime.fromisoformat(data["heartbeat"]))

    def instances(self) -> list[InstanceRow]:
        return [InstanceRow.model_validate(r) for r in self._get("/api/instances")]

    def events(self, *, after: int = 0, job: str | None = None, limit: int = 1000) -> list[tuple[int, RunEvent]]:
        found = self._get("/api/events", after=after, job=job, limit=limit)
        return [(e.pop("id"), RunEvent.model_validate(e)) for e in found]

    def graph_triggers(self) -> list[GraphTrigger]:
        return [GraphTrigger(t["name"], TriggerSpec.model_validate(t["spec"]), t["source"], bool(t["paused"]))
                for t in self._get("/api/triggers")]

    def trigger_rows(self) -> list[dict[str, Any]]:
        return list(self._get("/api/triggers"))

    def firing_rows(self, trigger: str | None, *, status: str | None, limit: int) -> list[dict[str, Any]]:
        return list(self._get("/api/firings", trigger=trigger, status=status, limit=limit))

    def known_jobs(self) -> set[str]:
        return {j.uri for j in self.jobs().items}

    def next(self, within: timedelta) -> list[dict[str, Any]]:
        return list(self._get("/api/next", within=format_duration(within)))

    def why(self, target: str, run_id: str | None = None) -> WhyAnswer:
        data = self._get("/api/why", target=target, run_id=run_id)
        text = data.pop("text")
        return WhyAnswer(data, text)

    # ------------------------------------------------------------------ acts

    async def trigger(self, uri: str, params: dict[str, Any]) -> TriggerOutcome:
        data = self._post("/api/trigger", {"job": uri, "params": params})
        return TriggerOutcome(run=Run.model_validate(data["run"]) if data["run"] else None,
                              approval=_approval(data["approval"]) if data["approval"] else None)

    async def refresh_run(self, job: str, run_id: str) -> Run:
        return Run.model_validate(self._post("/api/runs/refresh", {"job": job, "run_id": run_id}))

    async def cancel(self, job: str, run_id: str) -> None:
        self._post("/api/cancel", {"job": job, "run_id": run_id})

    async def logs(self, job: str, run_id: str) -> str:
        return str(self._get("/api/logs", job=job, run_id=run_id))

    def pause(self, name: str, reason: str) -> dict[str, Any]:
        return dict(self._post(f"/api/triggers/{name}/pause", {"reason": reason}))

    def resume(self, name: str) -> dict[str, Any]:
        return dict(self._post(f"/api/triggers/{name}/resume"))

    def approvals(self, state: str | None = None, limit: int = 100) -> list[Approval]:
        return [_approval(a) for a in self._get("/api/approvals", state=state, limit=limit)]

    async def approve(self, approval_id: str, reason: str | None = None) -> Decision:
        return self._decision(self._post(f"/api/approvals/{approval_id}/approve", {"reason": reason}))

    async def reject(self, approval_id: str, reason: str) -> Decision:
        return self._decision(self._post(f"/api/approvals/{approval_id}/reject", {"reason": reason}))

    @staticmethod
    def _decision(data: dict[str, Any]) -> Decision:
        return Decision(_approval(data["approval"]), [Run.model_validate(r) for r in data["runs"]])

    # ------------------------------------------------------------------ admin

    def validate_files(self, files: Sequence[Path]) -> list[dict[str, str]]:
        return list(self._post("/api/config/validate", {"files": _files(files)}))

    def apply_files(self, files: Sequence[Path], *, prune: bool, dry_run: bool) -> list[dict[str, Any]]:
        return list(self._post("/api/config/apply", {"files": _files(files), "prune": prune, "dry_run": dry_run}))

    def plan_files(self, files: Sequence[Path], *, prune: bool, max_fan_out: int) -> Plan:
        data = self._post("/api/config/plan", {"files": _files(files), "prune": prune, "max_fan_out": max_fan_out})
        return Plan(
            changes=[Change(c["kind"], c["name"], c["action"], c["source"]) for c in data["changes"]],
            graph=TriggerGraph([]),
            cycles=[Cycle(tuple(c["jobs"]), tuple(c["triggers"])) for c in data["cycles"]],
            cycle_problems=[_problem(p) for p in data.get("cycle_problems", [])]
            or [Problem("-", 0, c["text"]) for c in data["cycles"]],
            warnings=[PlanWarning(w["kind"], w["subject"], w["message"], w["location"]) for w in data["warnings"]],
            estimates=[Estimate(e["trigger"], e["firings_per_day"], e["runs_started_per_day"], e["mode"],
                                tuple((u["job"], u["runs_per_day"]) for u in e["upstream"]), e["paused"])
                       for e in data["estimates"]])

    def create_token(self, name: str, role: str, scopes: list[str] | None,
                     expires_in: timedelta | None) -> tuple[TokenInfo, str]:
        data = self._post("/api/tokens", {"name": name, "role": role, "scopes": scopes or ["*"],
                                          "expires": format_duration(expires_in) if expires_in else None})
        info = TokenInfo(data["name"], Role(data["role"]), tuple(data["scopes"]), datetime.min, "",
                         _time(data["expires_at"]), None)
        return info, data["token"]

    def tokens(self) -> list[TokenInfo]:
        return [_token(t) for t in self._get("/api/tokens")]

    def revoke_token(self, name: str) -> TokenInfo:
        return _token(self._call("DELETE", f"/api/tokens/{name}"))

    def audit_entries(self, *, limit: int = 50, after: int = 0, actor: str | None = None,
                      action: str | None = None) -> list[dict[str, Any]]:
        return list(self._get("/api/audit", limit=limit, after=after, actor=actor, action=action))

    def verify_audit(self) -> Verification:
        data = self._get("/api/audit/verify")
        return Verification(data["ok"], data["checked"], data["problem"], data["entry"])
