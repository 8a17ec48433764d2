"""Run events as OpenLineage RunEvents, readable by any OpenLineage consumer
(Marquez, DataHub, OpenMetadata...).

The mapping needs no translation table: a job's namespace is ``KIND://INSTANCE`` and
its name the native id; the event types are OpenLineage's own. OpenLineage wants a
UUID per run: each attempt of a run gets a stable UUIDv5 derived from its job URI,
native run id and attempt, so re-exporting gives the same ids. The ``producer`` names
this unifier package and its version (:data:`unifier.model.PRODUCER`).
"""

from __future__ import annotations

import uuid
from typing import Any

from unifier.model import JobRef, RunEvent

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_RUN_ID_NAMESPACE = uuid.UUID("6f1c1f5e-3c9a-5d0e-9a51-4c5e2b7d8a10")


def run_uuid(job: str, run_id: str, attempt: int) -> str:
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{job}\x1f{run_id}\x1f{attempt}"))


def to_openlineage(event: RunEvent) -> dict[str, Any]:
    ref = JobRef.parse(event.job)
    return {
        "eventType": event.event_type.value,
        "eventTime": event.event_time.isoformat().replace("+00:00", "Z"),
        "producer": event.producer,
        "schemaURL": SCHEMA_URL,
        "run": {
            "runId": run_uuid(event.job, event.run_id, event.attempt),
            "facets": {
                "unifier_run": {
                    "_producer": event.producer,
                    "_schemaURL": f"{event.producer}facets/UnifierRunFacet.json",
                    "nativeRunId": event.run_id,
                    "attempt": event.attempt,
                    "state": event.state.value,
                    "nativeState": event.native_state,
                },
            },
        },
        "job": {"namespace": ref.namespace, "name": ref.native_id},
        "inputs": [],
        "outputs": [],
    }
