"""The Airflow adapter without an Airflow: its pure helpers (watermark, v1->v2
translation, log rendering, paging) and how it reads a trigger's refusal, against a
wire-level stand-in that answers a few /api/v2 paths. No server needed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from unifier import secrets
from unifier.adapters.airflow.adapter import AirflowAdapter, _render_log, _Watermark
from unifier.adapters.airflow.api import _dag_v1_to_v2
from unifier.adapters.airflow.client import Response
from unifier.adapters.airflow.pages import read_pages
from unifier.adapters.airflow.settings import AirflowSettings
from unifier.adapters.timestamps import parse_time
from unifier.errors import AdapterError, NotFound, TriggerRefused

# ------------------------------------------------------------------ watermark


def test_the_watermark_round_trips_its_time_and_fingerprints():
    since = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    mark = _Watermark(since, frozenset({"b", "a"}))
    again = _Watermark.parse(mark.dump())
    assert again is not None and again.since == since and again.seen == {"a", "b"}
    assert json.loads(mark.dump())["seen"] == ["a", "b"]  # sorted: the same set, the same text


@pytest.mark.parametrize("text", [None, "", "not json", "{}", '{"since": "yesterday"}', "[1]"])
def test_a_missing_or_damaged_watermark_means_start_over(text):
    assert _Watermark.parse(text) is None


def test_a_watermark_without_an_offset_is_utc():
    mark = _Watermark.parse('{"since": "2025-03-01T12:30:00", "seen": []}')
    assert mark is not None and mark.since == datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


# ------------------------------------------------------------------ v1 -> v2


def test_a_v1_cron_schedule_becomes_the_timetable_summary():
    dag = {"dag_id": "d", "schedule_interval": {"__type": "CronExpression", "value": "0 3 * * *"},
           "next_dagrun_create_after": "2025-03-02T03:00:00+00:00", "next_dagrun": "2025-03-01T03:00:00+00:00"}
    v2 = _dag_v1_to_v2(dag)
    assert v2["timetable_summary"] == "0 3 * * *"
    assert v2["next_dagrun_run_after"] == "2025-03-02T03:00:00+00:00"
    assert v2["next_dagrun_logical_date"] == "2025-03-01T03:00:00+00:00"
    assert "timetable_summary" not in dag  # the server's answer is not modified


@pytest.mark.parametrize(("schedule", "summary"), [
    ({"__type": "TimeDelta", "days": 1, "seconds": 3600, "microseconds": 0}, "1 day, 1:00:00"),
    ({"__type": "RelativeDelta", "months": 1}, "relativedelta"),
    (None, None),
])
def test_other_v1_schedules(schedule, summary):
    assert _dag_v1_to_v2({"dag_id": "d", "schedule_interval": schedule})["timetable_summary"] == summary


def test_a_field_v2_already_has_is_kept():
    v2 = _dag_v1_to_v2({"timetable_summary": "@daily", "next_dagrun_run_after": "x",
                        "schedule_interval": {"__type": "CronExpression", "value": "0 3 * * *"}})
    assert v2["timetable_summary"] == "@daily" and v2["next_dagrun_run_after"] == "x"


# ------------------------------------------------------------------ logs


def test_a_plain_text_log_is_returned_as_is():
    assert _render_log({"content": "line 1\nline 2"}) == "line 1\nline 2"
    assert _render_log("raw text") == "raw text"


def test_structured_log_records_render_one_line_each():
    body = {"content": [
        {"event": "::group::Log message source details"},
        {"timestamp": "2025-03-01T12:00:00Z", "level": "info", "logger": "task", "event": "hello"},
        {"timestamp": "2025-03-01T12:00:01Z", "level": "error", "event": "boom"},
        "a bare string",
    ]}
    assert _render_log(body).splitlines() == [
        "::group::Log message source details",
        "[2025-03-01T12:00:00Z] INFO task: hello",
        "[2025-03-01T12:00:01Z] ERROR : boom",
        "a bare string",
    ]


def test_an_empty_log_is_empty():
    assert _render_log({"content": []}) == ""
    assert _render_log({}) == ""


# ------------------------------------------------------------------ paging and times


def _pages_of(rows: list[int], size: int, *, keyset: bool):
    asked: list[tuple[str | None, int]] = []

    def fetch(cursor: str | None, offset: int) -> Response:
        asked.append((cursor, offset))
        start = int(cursor or 0) if keyset else offset
        page = [{"n": n} for n in rows[start:start + size]]
        body: dict = {"items": page, "total_entries": len(rows)}
        if keyset:
            body["next_cursor"] = str(start + size) if start + size < len(rows) else None
        return Response(200, body, datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=len(asked)))

    return fetch, asked


@pytest.mark.parametrize("keyset", [False, True])
def test_every_page_is_read_once_and_the_first_answer_dates_the_listing(keyset):
    fetch, asked = _pages_of(list(range(250)), 100, keyset=keyset)
    rows, first = read_pages(fetch, "items", keyset=keyset)
    assert [r["n"] for r in rows] == list(range(250))
    assert len(asked) == 3
    assert first.server_time == datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_a_server_without_cursors_is_paged_by_offset_even_when_keyset_is_asked():
    fetch, asked = _pages_of(list(range(150)), 100, keyset=False)
    rows, _ = read_pages(fetch, "items", keyset=True)
    assert len(rows) == 150 and asked == [("", 0), (None, 100)]


def test_an_answer_without_the_list_is_an_adapter_error():
    with pytest.raises(AdapterError, match="without a 'items' list"):
        read_pages(lambda cursor, offset: Response(200, {"detail": "?"}, None), "items")


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-03-01T12:00:00Z", datetime(2025, 3, 1, 12, tzinfo=UTC)),
    ("2025-03-01T14:00:00+02:00", datetime(2025, 3, 1, 12, tzinfo=UTC)),
    ("2025-03-01T12:00:00", datetime(2025, 3, 1, 12, tzinfo=UTC)),
    (None, None), ("", None), ("soon", None),
])
def test_tool_timestamps(text, expected):
    assert parse_time(text) == expected


# ------------------------------------------------------------------ trigger refusals


class _StandIn(BaseHTTPRequestHandler):
    """Answers the three paths a trigger uses; the trigger's status is set per test."""

    trigger_status = 201
    trigger_body: dict = {}

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/api/v2/monitor/health"):
            self._answer(200, {"metadatabase": {"status": "healthy"}})
        elif self.path.startswith("/api/v2/dags/"):
            self._answer(200, {"dag_id": self.path.split("/")[4], "is_paused": False})
        else:
            self._answer(404, {"detail": "no such path"})

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(self.server.trigger_status, self.server.trigger_body)  # type: ignore[attr-defined]

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _adapter(server: ThreadingHTTPServer, monkeypatch) -> AirflowAdapter:
    monkeypatch.setenv("UNIFIER_TEST_AIRFLOW_TOKEN", "a-token")
    raw = {"url": f"http://127.0.0.1:{server.server_address[1]}", "token": "${env:UNIFIER_TEST_AIRFLOW_TOKEN}"}
    with secrets.resolved_context():
        settings = AirflowSettings.model_validate(secrets.resolve(raw))
    return AirflowAdapter("stand-in", settings)


@pytest.mark.parametrize(("status", "expected", "match"), [
    (422, TriggerRefused, "refused to start DAG 'etl'"),
    (400, TriggerRefused, "refused to start DAG 'etl'"),
    (404, NotFound, "not found in Airflow"),
    (403, AdapterError, "check the credentials"),
])
async def test_a_trigger_refusal_is_told_apart_from_a_missing_dag_and_bad_credentials(
        stand_in, monkeypatch, status, expected, match):
    stand_in.trigger_status, stand_in.trigger_body = status, {"detail": "conf.greeting: required"}
    adapter = _adapter(stand_in, monkeypatch)
    try:
        with pytest.raises(expected, match=match) as raised:
            await adapter.trigger("etl", {}, "firing-1")
        if expected is not TriggerRefused:
            assert not isinstance(raised.value, TriggerRefused)
    finally:
        await adapter.close()
