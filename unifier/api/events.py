"""Run events: a page of history (``GET /api/events``) and a live stream
(``GET /api/events/stream``, Server-Sent Events).

Both read the catalog's append-only ``run_events`` table by row id, so a reader that
knows the last id it saw loses nothing: ``?after=ID`` for a page, the ``Last-Event-ID``
header (sent by a browser's EventSource when it reconnects) or ``?after=ID`` for the
stream; a stream given neither starts at the newest event (live only; ``?after=0``
replays the whole history first). Each SSE message carries the row id as its ``id``, the event type
(``START``, ``COMPLETE``...) as its ``event``, and the same JSON as one item of
``/api/events`` (or an OpenLineage RunEvent with ``?format=openlineage``) as ``data``.

The stream polls the catalog every :data:`POLL_SECONDS` (whoever writes events, this
process's control loop or another replica, is seen alike) and ends by itself after
:data:`STREAM_SECONDS`: the EventSource reconnects and resumes, and a server that is
shutting down is never held open by a forgotten browser tab.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from unifier.api.deps import MAX_ID, ServiceDep
from unifier.lineage import to_openlineage
from unifier.model import RunEvent
from unifier.service import Service

POLL_SECONDS = 0.5
STREAM_SECONDS = 5.0  # also the longest a shutdown waits for an open stream
RETRY_MS = 1000  # how soon the browser reconnects when a stream ends
_PAGE = 500

router = APIRouter(prefix="/api", tags=["events"])


class EventFormat(enum.StrEnum):
    json = "json"
    openlineage = "openlineage"


def event_view(event_id: int, event: RunEvent, fmt: EventFormat = EventFormat.json) -> dict[str, Any]:
    """As ``unifier events -o json`` (or ``--openlineage``)."""
    if fmt == EventFormat.openlineage:
        return to_openlineage(event)
    return {"id": event_id, **event.model_dump(mode="json")}


@router.get("/events")
def events(service: ServiceDep, after: int = Query(default=0, ge=0, le=MAX_ID, description="only events after this id"),
           job: str | None = None, limit: int = Query(default=1000, ge=1, le=10000),
           format: EventFormat = EventFormat.json) -> list[dict[str, Any]]:
    """Run state changes in the order they were recorded, oldest first."""
    return [event_view(i, e, format) for i, e in service.events(after=after, job=job, limit=limit)]


def _resume_point(service: Service, after: int | None, last_event_id: str | None) -> int:
    """``Last-Event-ID`` wins: it is what the browser saw last, after a reconnect.
    Given neither, the stream is live only: it starts after the newest event."""
    if last_event_id and last_event_id.strip().isdigit():
        return min(int(last_event_id.strip()), MAX_ID)
    return service.latest_event_id() if after is None else after


def sse_message(event_id: int, event: RunEvent, fmt: EventFormat) -> str:
    data = json.dumps(event_view(event_id, event, fmt), separators=(",", ":"))
    return f"id: {event_id}\nevent: {event.event_type.value}\ndata: {data}\n\n"


async def _stream(request: Request, service: Service, after: int, job: str | None,
                  fmt: EventFormat) -> AsyncIterator[str]:
    # the resume point as the last event id: a client that sees no event before this stream
    # ends reconnects from here (Last-Event-ID / ?after=), not from whatever is newest then
    yield f"retry: {RETRY_MS}\nid: {after}\n\n"
    deadline = time.monotonic() + STREAM_SECONDS
    while time.monotonic() < deadline and not await request.is_disconnected():
        # the catalog is synchronous: its query runs in the API's worker threads, off the
        # event loop the control loop shares (scoped by the caller's principal, as every read)
        found = await run_in_threadpool(service.events, after=after, job=job, limit=_PAGE)
        for event_id, event in found:
            yield sse_message(event_id, event, fmt)
            after = event_id
        if len(found) < _PAGE:  # caught up: wait for more
            await asyncio.sleep(POLL_SECONDS)


@router.get("/events/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def stream(request: Request, service: ServiceDep,
                 after: int | None = Query(default=None, ge=0, le=MAX_ID, description="start after this event id"),
                 job: str | None = None, format: EventFormat = EventFormat.json,
                 last_event_id: str | None = Header(default=None)) -> StreamingResponse:
    """Server-Sent Events: every run event from the resume point on, as it is recorded."""
    start = await run_in_threadpool(_resume_point, service, after, last_event_id)
    return StreamingResponse(_stream(request, service, start, job, format), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
