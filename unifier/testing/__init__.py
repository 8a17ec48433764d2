"""Test helpers shipped for users and adapter authors.

- :class:`FakeAdapter` and :func:`register_fake_adapter`: a tool in memory;
- :func:`build_job` and :func:`build_run`: model objects with sensible defaults;
- :mod:`unifier.testing.conformance`: the suite every adapter passes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from unifier.model import Job, JobRef, Run, RunState, utcnow
from unifier.testing.fake import FakeAdapter, FakeJob, FakeSettings, register_fake_adapter


def build_job(uri: str, **fields: Any) -> Job:
    """``build_job("cron://hosts/backup", schedule="0 3 * * *")``"""
    ref = JobRef.parse(uri)
    return Job.build(ref.kind, ref.instance, ref.native_id, **fields)


def build_run(job: str, run_id: str, state: RunState | str = RunState.SUCCEEDED,
              duration: float = 1.0, **fields: Any) -> Run:
    """A run of ``job`` with times filled in to match its state."""
    state = RunState(state)
    now = utcnow()
    fields.setdefault("queued_at", now - timedelta(seconds=duration + 1))
    if state != RunState.QUEUED:
        fields.setdefault("started_at", now - timedelta(seconds=duration))
    if state.terminal:
        fields.setdefault("ended_at", now)
    fields.setdefault("native_state", state.value)
    return Run(job=job, run_id=run_id, state=state, **fields)


__all__ = [
    "FakeAdapter",
    "FakeJob",
    "FakeSettings",
    "build_job",
    "build_run",
    "register_fake_adapter",
]
