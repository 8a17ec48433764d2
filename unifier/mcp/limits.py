"""Per-agent rate limits for requests (the write tools).

A token bucket per agent: ``burst`` requests at once, refilled at ``per_minute``. A
refusal says when the next request will be accepted, so an agent can wait instead of
hammering. The clock is injectable so the arithmetic is tested without sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field


class RateLimitSettings(BaseModel):
    per_minute: float = Field(default=6.0, gt=0, description="requests an agent may make per minute, sustained")
    burst: int = Field(default=3, ge=1, description="requests an agent may make at once before the rate applies")


class RateLimited(Exception):
    def __init__(self, agent: str, retry_after: float):
        self.agent = agent
        self.retry_after = retry_after
        super().__init__(f"rate limit: agent {agent!r} made too many requests; "
                         f"retry in {math.ceil(retry_after)} s")


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Thread-safe: the HTTP server may serve several sessions of one agent at once."""

    def __init__(self, settings: RateLimitSettings | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings or RateLimitSettings()
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def _per_second(self) -> float:
        return self.settings.per_minute / 60.0

    def acquire(self, agent: str) -> None:
        """Take one request from ``agent``'s bucket, or raise :class:`RateLimited`."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(agent)
            if bucket is None:
                bucket = self._buckets[agent] = _Bucket(float(self.settings.burst), now)
            bucket.tokens = min(float(self.settings.burst),
                                bucket.tokens + (now - bucket.updated) * self._per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            raise RateLimited(agent, (1.0 - bucket.tokens) / self._per_second)
