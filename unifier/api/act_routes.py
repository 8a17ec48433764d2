"""Write routes that act: trigger, cancel, refresh, logs, pause/resume, approvals.

Each is a plain ``def``: FastAPI runs it in its thread pool, where the service's
catalog queries and tool calls (``asyncio.run`` of the adapter call) never touch the
event loop that serves requests and runs the control loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from unifier.api.deps import ServiceDep

router = APIRouter(prefix="/api", tags=["actions"])

_KEY = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class TriggerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job: str = Field(max_length=512, description="job URI, e.g. cron://hosts/backup")
    params: dict[str, str] = Field(default_factory=dict, max_length=100, description="KEY: VALUE parameters")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job: str = Field(max_length=512)
    run_id: str = Field(max_length=255)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)


@router.post("/trigger", status_code=status.HTTP_202_ACCEPTED)
def trigger(body: TriggerRequest, service: ServiceDep) -> dict[str, Any]:
    """Start a run now; under an ApprovalPolicy, an approval request instead (``approval`` set)."""
    return asyncio.run(service.trigger(body.job, body.params)).to_json()


@router.post("/runs/refresh")
def refresh(body: RunRequest, service: ServiceDep) -> dict[str, Any]:
    """Ask the tool for the run's state now (``unifier trigger --wait`` polls this)."""
    return asyncio.run(service.refresh_run(body.job, body.run_id)).model_dump(mode="json")


@router.post("/cancel", status_code=status.HTTP_202_ACCEPTED)
def cancel(body: RunRequest, service: ServiceDep) -> dict[str, Any]:
    asyncio.run(service.cancel(body.job, body.run_id))
    return {"job": body.job, "run_id": body.run_id, "cancel_requested": True}


@router.get("/logs", response_class=PlainTextResponse)
def logs(service: ServiceDep, job: str = Query(max_length=512), run_id: str = Query(max_length=255)) -> str:
    """A run's log, fetched from the tool."""
    return asyncio.run(service.logs(job, run_id))


@router.post("/triggers/{name}/pause")
def pause(name: str, service: ServiceDep, body: Reason | None = None) -> dict[str, Any]:
    return service.pause(name, (body.reason if body else None) or "paused by hand")


@router.post("/triggers/{name}/resume")
def resume(name: str, service: ServiceDep) -> dict[str, Any]:
    return service.resume(name)


@router.get("/approvals")
def approvals(service: ServiceDep, state: str | None = Query(default=None, max_length=32),
              limit: int = Query(default=100, ge=1, le=10000)) -> list[dict[str, Any]]:
    """Approval requests, newest first (``unifier approvals -o json``)."""
    return [a.to_json() for a in service.approvals(state, limit)]


@router.post("/approvals/{approval_id}/approve")
def approve(approval_id: str, service: ServiceDep, body: Reason | None = None) -> dict[str, Any]:
    return asyncio.run(service.approve(approval_id, body.reason if body else None)).to_json()


@router.post("/approvals/{approval_id}/reject")
def reject(approval_id: str, body: Reason, service: ServiceDep) -> dict[str, Any]:
    from unifier.errors import InvalidInput

    if not body.reason:
        raise InvalidInput("a rejection needs a reason")
    return asyncio.run(service.reject(approval_id, body.reason)).to_json()
