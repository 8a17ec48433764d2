"""Which queue item or build an earlier attempt of a firing started (Jenkins has no
idempotency key, so a retried trigger must recognise its own run before POSTing again).

* On a job that declares a ``UNIFIER_FIRING_ID`` parameter, unifier sends the firing id in
  it, and the earlier run is the one whose ``UNIFIER_FIRING_ID`` equals it, exactly.
* Elsewhere, the earlier run is the oldest one that (a) was started by unifier's user
  (``UserIdCause.userId``, compared case-insensitively like Jenkins' default user-id
  strategy), (b) recorded the same value for every parameter sent (``ParametersAction``),
  (c) entered the queue or started no earlier than the firing (less the clock skew), and
  (d) no other firing of this process has claimed.

Builds are preferred to queue items, oldest first: the first attempt's run is the oldest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from unifier.adapters.jenkins.builds import (
    FIRING_PARAMETER,
    causes_of,
    ms_to_datetime,
    parameters_of,
    same_parameters,
)
from unifier.adapters.jenkins.client import full_name_from_url


def started_by(causes: list[dict[str, Any]], username: str | None) -> bool:
    """A ``UserIdCause`` of ``username`` (``None``: the anonymous user) is among ``causes``."""
    user = (username or "").casefold()
    for cause in causes:
        if "userId" not in cause and not str(cause.get("_class", "")).endswith("UserIdCause"):
            continue
        if (cause.get("userId") or "").casefold() == user:
            return True
    return False


@dataclass
class Attempt:
    """One firing's trigger: what was (or will be) sent, and since when to look."""

    native_id: str
    sent: dict[str, str]  # parameters as posted, UNIFIER_FIRING_ID included where declared
    firing_id: str
    since: datetime  # the firing's time less the tolerated clock skew
    username: str | None
    claimed_by_others: set[str]  # run ids (numbers and queue-N) of other firings

    @property
    def by_firing(self) -> bool:
        return FIRING_PARAMETER in self.sent

    def _matches(self, actions: list[Any] | None, when: datetime | None, run_ids: set[str]) -> bool:
        seen = parameters_of(actions)
        if self.by_firing:
            return seen.get(FIRING_PARAMETER) == self.firing_id
        return (when is not None and when >= self.since and not run_ids & self.claimed_by_others
                and started_by(causes_of(actions), self.username) and same_parameters(self.sent, seen))

    def build(self, build: dict[str, Any]) -> bool:
        ids = {str(build.get("number")), f"queue-{build.get('queueId')}"}
        return self._matches(build.get("actions"), ms_to_datetime(build.get("timestamp")), ids)

    def queue_item(self, item: dict[str, Any]) -> bool:
        if full_name_from_url(str((item.get("task") or {}).get("url", ""))) != self.native_id:
            return False
        return self._matches(item.get("actions"), ms_to_datetime(item.get("inQueueSince")),
                             {f"queue-{item.get('id')}"})

    def earliest(self, builds: list[dict[str, Any]],
                 queue_items: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
        """``("build", build)``, ``("queue", item)`` or ``None``."""
        for build in sorted((b for b in builds if isinstance(b, dict)), key=lambda b: b.get("number") or 0):
            if self.build(build):
                return "build", build
        for item in sorted((i for i in queue_items if isinstance(i, dict)), key=lambda i: i.get("id") or 0):
            if self.queue_item(item):
                return "queue", item
        return None
