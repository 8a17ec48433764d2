"""How the control plane paces its zones: leases, redelivery, waiting for an agent."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field, ValidationError

from unifier.errors import UnifierError

ENV_PREFIX = "UNIFIER_ZONE_"


class ZoneSettings(BaseModel):
    """Read from ``UNIFIER_ZONE_<FIELD>`` (e.g. ``UNIFIER_ZONE_LEASE_SECONDS=15``)."""

    lease_seconds: float = Field(
        default=15.0, gt=0,
        description="an agent silent this long loses its zone's lease to another agent")
    redeliver_seconds: float = Field(
        default=30.0, gt=0,
        description="work delivered but not acknowledged this long is delivered again")
    long_poll_seconds: float = Field(
        default=20.0, ge=0, le=60,
        description="longest a pull waits for work before answering with none")
    answer_wait_seconds: float = Field(
        default=10.0, ge=0,
        description="how long a trigger, cancel or log fetch waits for the zone agent's "
                    "answer before it is reported as waiting (the work stays queued)")
    check_interval_seconds: float = Field(
        default=0.05, gt=0,
        description="how often a waiting pull or a waiting answer looks at the queue")

    @classmethod
    def from_env(cls) -> ZoneSettings:
        values = {name: os.environ[ENV_PREFIX + name.upper()] for name in cls.model_fields
                  if ENV_PREFIX + name.upper() in os.environ}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise UnifierError(f"{ENV_PREFIX}*: {exc}") from None
