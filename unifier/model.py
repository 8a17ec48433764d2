"""The normalized model: one vocabulary for every tool.

Names follow OpenLineage where it has one (a job's namespace is ``KIND://INSTANCE``
and its name the tool's native id; run events are START/RUNNING/COMPLETE/FAIL/ABORT),
so events export without translation.

    Instance  one configured connection to one tool ("airflow-prod")
    Job       one schedulable unit inside a tool, named by a URI KIND://INSTANCE/NATIVE_ID
    Run       one execution of a job; ``state`` is normalized, ``native_state`` verbatim
    RunEvent  the append-only history of a run's state changes
"""

from __future__ import annotations

import enum
import importlib.metadata
import re
from datetime import UTC, datetime
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field, field_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...


@overload
def as_utc(value: datetime | None) -> datetime | None: ...


def as_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC (SQLite returns them naive)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class RunState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def rank(self) -> int:
        """Progress order used to refuse backward moves within one attempt."""
        return _RANK[self]


TERMINAL_STATES = frozenset(
    {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.SKIPPED}
)
# unknown ranks lowest: any real observation may replace it, it never replaces one.
_RANK = {
    RunState.UNKNOWN: 0,
    RunState.QUEUED: 1,
    RunState.RUNNING: 2,
    RunState.SUCCEEDED: 3,
    RunState.FAILED: 3,
    RunState.CANCELLED: 3,
    RunState.SKIPPED: 3,
}


class EventType(enum.StrEnum):
    """OpenLineage RunEvent.eventType."""

    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAIL = "FAIL"
    ABORT = "ABORT"
    OTHER = "OTHER"


EVENT_FOR_STATE: dict[RunState, EventType] = {
    RunState.QUEUED: EventType.START,
    RunState.RUNNING: EventType.RUNNING,
    RunState.SUCCEEDED: EventType.COMPLETE,
    RunState.FAILED: EventType.FAIL,
    RunState.CANCELLED: EventType.ABORT,
    RunState.SKIPPED: EventType.ABORT,
    RunState.UNKNOWN: EventType.OTHER,
}


def map_state(table: dict[str, RunState], native: str | None) -> RunState:
    """Look a native state up in an adapter's table; unmapped means unknown."""
    if native is None:
        return RunState.UNKNOWN
    return table.get(native, RunState.UNKNOWN)


# --------------------------------------------------------------------------- URIs

_NAME = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
NAME_RE = re.compile(rf"^{_NAME}$")
URI_RE = re.compile(rf"^(?P<kind>[a-z][a-z0-9+.-]*)://(?P<instance>{_NAME})/(?P<native_id>.+)$")


class JobRef(BaseModel):
    """A parsed job URI: ``KIND://INSTANCE/NATIVE_ID``."""

    model_config = ConfigDict(frozen=True)

    kind: str
    instance: str
    native_id: str

    @classmethod
    def parse(cls, uri: str) -> JobRef:
        match = URI_RE.match(uri)
        if not match:
            raise ValueError(
                f"not a job URI: {uri!r} (expected KIND://INSTANCE/NATIVE_ID, "
                "e.g. cron://hosts/backup)"
            )
        return cls(**match.groupdict())

    @property
    def uri(self) -> str:
        return job_uri(self.kind, self.instance, self.native_id)

    @property
    def namespace(self) -> str:
        """OpenLineage job namespace."""
        return f"{self.kind}://{self.instance}"

    def __str__(self) -> str:
        return self.uri


def job_uri(kind: str, instance: str, native_id: str) -> str:
    return f"{kind}://{instance}/{native_id}"


# --------------------------------------------------------------------------- entities


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Instance(_Model):
    """One configured connection to one tool. ``config`` keeps secret references
    (``${env:NAME}``) unresolved: they are resolved only when an adapter is built."""

    name: str
    kind: str = Field(description="adapter kind, e.g. 'cron'")
    config: dict[str, Any] = Field(default_factory=dict)
    poll_interval: float | None = Field(default=None, description="seconds between syncs")


class Job(_Model):
    uri: str
    instance: str
    kind: str
    native_id: str
    name: str
    description: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    schedule: str | None = Field(default=None, description="cron expression, where the tool has one")
    timezone: str | None = None
    paused: bool = False
    url: str | None = Field(default=None, description="link to the job in the tool's own UI")
    next_run_at: datetime | None = Field(
        default=None, description="next run as the tool itself predicts it, where it does"
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="tool-specific facts")

    @property
    def ref(self) -> JobRef:
        return JobRef(kind=self.kind, instance=self.instance, native_id=self.native_id)

    @classmethod
    def build(cls, kind: str, instance: str, native_id: str, **fields: Any) -> Job:
        fields.setdefault("name", native_id)
        return cls(
            uri=job_uri(kind, instance, native_id),
            instance=instance,
            kind=kind,
            native_id=native_id,
            **fields,
        )


class CauseKind(enum.StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    TRIGGER = "trigger"
    EXTERNAL = "external"
    UNKNOWN = "unknown"


class Cause(_Model):
    """Who or what started a run."""

    kind: CauseKind = CauseKind.UNKNOWN
    actor: str | None = Field(default=None, description="user or system that asked")
    trigger: str | None = Field(default=None, description="name of the unifier trigger")
    firing_id: str | None = None
    upstream_runs: list[RunKey] = Field(default_factory=list)


class RunKey(_Model):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job: str
    run_id: str


class Run(_Model):
    """One observation of one execution of a job.

    ``version`` orders observations of the same attempt (a monotonic counter from the
    tool where it has one: a resourceVersion, a spool offset). ``attempt`` counts the
    times the tool restarted this same run (an Airflow "clear"); adapters leave it
    ``None`` unless the tool numbers attempts itself, and the catalog works it out."""

    job: str
    run_id: str
    state: RunState
    native_state: str | None = None
    attempt: int | None = None
    version: int | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    cause: Cause = Field(default_factory=Cause)
    log_url: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("queued_at", "started_at", "ended_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)

    @property
    def key(self) -> RunKey:
        return RunKey(job=self.job, run_id=self.run_id)

    @property
    def last_time(self) -> datetime | None:
        return self.ended_at or self.started_at or self.queued_at


def _producer_uri() -> str:
    """This unifier as an OpenLineage producer: a URI naming the package and its version,
    as OpenLineage asks ("a URI identifying the producer of this metadata")."""
    try:
        version = importlib.metadata.version("unifier")
    except importlib.metadata.PackageNotFoundError:  # imported from a checkout that was never installed
        version = "0+unknown"
    return f"https://pypi.org/project/unifier/{version}/"


PRODUCER = _producer_uri()


class RunEvent(_Model):
    """OpenLineage-shaped record of one state change of one run attempt."""

    event_type: EventType
    event_time: datetime
    job: str
    run_id: str
    attempt: int = 1
    state: RunState
    native_state: str | None = None
    producer: str = Field(default_factory=lambda: PRODUCER,
                          description="the software that recorded the event (OpenLineage's producer)")


class Health(_Model):
    ok: bool
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


Cause.model_rebuild()
