"""Run events over HTTP: a page by id, OpenLineage form, and the live SSE stream that
delivers events in order and resumes from ``Last-Event-ID``."""

from __future__ import annotations

import json
import threading

import httpx

from unifier.lineage import to_openlineage
from unifier.model import RunState
from unifier.testing import build_run


def read_messages(base: str, count: int, *, path: str = "/api/events/stream",
                  headers: dict[str, str] | None = None, then=None) -> list[dict[str, str]]:
    """The first ``count`` SSE messages with data (``then()`` runs once the stream is
    open); fails after a few seconds instead of hanging."""
    messages: list[dict[str, str]] = []
    with httpx.Client(base_url=base, timeout=httpx.Timeout(5.0)) as client:
        with client.stream("GET", path, headers=headers or {}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            if then:
                threading.Timer(0.1, then).start()
            current: dict[str, str] = {}
            for line in response.iter_lines():
                if line:
                    field, _, value = line.partition(": ")
                    current[field] = value
                    continue
                if "data" in current:
                    messages.append(current)
                    if len(messages) == count:
                        break
                current = {}
    return messages


async def test_a_page_of_events_matches_the_catalog_and_openlineage(client, catalog):
    stored = catalog.list_events()
    plain = (await client.get("/api/events")).json()
    assert [e["id"] for e in plain] == [i for i, _ in stored]
    assert {"event_type", "event_time", "job", "run_id", "attempt", "state"} <= set(plain[0])
    lineage = (await client.get("/api/events?format=openlineage")).json()
    assert lineage == [to_openlineage(e) for _, e in stored]
    assert lineage[0]["job"] == {"namespace": "cron://hosts", "name": "extract"}


def test_the_stream_replays_from_after_in_order_with_ids(server, catalog):
    stored = catalog.list_events()
    messages = read_messages(server, len(stored), path="/api/events/stream?after=0")
    assert [int(m["id"]) for m in messages] == [i for i, _ in stored]
    assert [m["event"] for m in messages] == [e.event_type.value for _, e in stored]
    assert [json.loads(m["data"])["id"] for m in messages] == [i for i, _ in stored]


def test_the_stream_is_live_and_resumes_from_last_event_id(server, catalog):
    last_before = catalog.list_events()[-1][0]

    def finish_a_run() -> None:
        catalog.record_runs([build_run("airflow://prod/load", "manual__2", RunState.SUCCEEDED)])

    # no resume point: only what happens from now on
    live = read_messages(server, 1, then=finish_a_run)
    data = json.loads(live[0]["data"])
    assert int(live[0]["id"]) == data["id"] > last_before
    assert (data["run_id"], data["state"], live[0]["event"]) == ("manual__2", "succeeded", "COMPLETE")

    # a reconnecting browser sends the last id it saw; the header wins over ?after
    catalog.record_runs([build_run("cron://hosts/idle", "i1", RunState.FAILED)])
    resumed = read_messages(server, 2, path="/api/events/stream?after=0",
                            headers={"Last-Event-ID": str(last_before)})
    assert [int(m["id"]) for m in resumed] == [i for i, _ in catalog.list_events(after_id=last_before)][:2]
    assert json.loads(resumed[0]["data"])["run_id"] == "manual__2"


def test_the_stream_speaks_openlineage_when_asked(server, catalog):
    first_id, first = catalog.list_events()[0]
    message = read_messages(server, 1, path="/api/events/stream?after=0&format=openlineage")[0]
    assert int(message["id"]) == first_id
    assert json.loads(message["data"]) == to_openlineage(first)
