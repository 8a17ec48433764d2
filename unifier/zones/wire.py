"""What travels between an agent and the control plane (JSON over HTTP), both ways.

The agent's outbox messages carry a per-agent sequence number; the control plane
applies them in order, once, and answers with the highest sequence applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from unifier.model import Job, Run

WorkId = Annotated[int, Field(ge=1, le=2**62)]  # a 64-bit row id: larger is bad input (422), not a crash

MAX_BATCH = 1000  # outbox messages per request


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1, le=2**62, description="the agent's sequence number, from 1, without gaps")
    at: datetime = Field(description="when the agent observed or did it")


class JobsMessage(_Message):
    kind: Literal["jobs"] = "jobs"
    instance: str
    jobs: list[Job]
    complete: bool = Field(default=True, description="jobs not listed were removed")


class RunsMessage(_Message):
    kind: Literal["runs"] = "runs"
    instance: str
    runs: list[Run]


class SyncMessage(_Message):
    kind: Literal["sync"] = "sync"
    instance: str
    ok: bool
    error: str | None = None
    health: dict[str, Any] | None = None


class ResultMessage(_Message):
    kind: Literal["result"] = "result"
    work_id: WorkId
    ok: bool
    run: Run | None = None  # a trigger's run
    text: str | None = None  # a log fetch's text
    error: str | None = None
    error_type: str | None = None  # the agent-side exception class, e.g. ToolUnavailable
    retryable: bool = False


OutboxMessage = Annotated[JobsMessage | RunsMessage | SyncMessage | ResultMessage,
                          Field(discriminator="kind")]


class OutboxBatch(BaseModel):
    messages: list[OutboxMessage] = Field(max_length=MAX_BATCH)


class Refused(BaseModel):
    seq: int
    reason: str


class OutboxAnswer(BaseModel):
    acked_seq: int = Field(description="every message up to this sequence number is applied")
    refused: list[Refused] = Field(default_factory=list,
                                   description="applied as nothing (out of this zone): never resend")


class PullRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wait: float = Field(default=20.0, ge=0, le=60, description="seconds to wait for work")
    limit: int = Field(default=50, ge=1, le=500)


class WorkWire(BaseModel):
    id: int
    attempt: int = Field(description="executed once per attempt, however often delivered")
    kind: Literal["trigger", "cancel", "logs"]
    job: str
    payload: dict[str, Any]


class PullAnswer(BaseModel):
    active: bool = Field(description="this agent holds its zone's lease (a standby gets no work)")
    generation: int
    holder: str = Field(description="agent id of the active agent")
    acked_seq: int = Field(description="the highest outbox sequence applied from this agent")
    work: list[WorkWire]


class AckRequest(BaseModel):
    ids: list[WorkId] = Field(max_length=500)


class AckAnswer(BaseModel):
    acked: list[int]


class InstanceWire(BaseModel):
    """An instance as the catalog keeps it: secret references stay references."""

    name: str
    adapter: str
    spec: dict[str, Any]
    spec_hash: str
