"""The Airflow adapter: DAGs are jobs, DAG runs are runs.

Airflow 3 through its REST API v2 (the generated ``apache-airflow-client``), and Airflow
2 through REST v1 (basic auth); :mod:`.api` holds the two dialects, chosen once per
server by asking which API it has (or by ``api_version``).

Costs, in requests to Airflow:

- ``changes()``: one ``GET /api/v2/dags/~/dagRuns?updated_at_gte=W&order_by=updated_at``
  per 100 changed runs across every DAG (keyset pages through ``cursor``; Airflow 2
  and 3.0-3.1 page by offset), never one per DAG. The response carries no
  ``updated_at``, so the watermark is the server's own clock at query time (its
  ``Date`` header); the next query reaches back
  ``watermark_overlap`` seconds before it, and runs re-seen unchanged in that overlap
  are dropped by fingerprint (kept in the watermark).
- ``discover()``: one ``GET /api/v2/dags`` per 100 DAGs, plus one DAG-details read per
  adapter lifetime for Airflow's default time zone.
- ``health()``: ``/monitor/health`` and ``/importErrors``, at most once a minute.
- authentication: one ``POST /auth/token`` per day per (url, user), shared by every
  adapter object in the process.
- ``trigger()``: read the DAG (paused?), then ``POST dagRuns`` with the deterministic
  ``dag_run_id`` of the firing; a retry gets 409 and adopts the run after checking it
  belongs to the same firing.

A "clear" of a finished DAG run re-queues the same ``dag_run_id``: Airflow counts it in
``dag_run.clear_number``, which the REST API does not return. The run comes back with a
``queued_at`` (then ``start_date``) later than its previous end, which the catalog's
merge rule records as a new attempt; ``Run.attempt`` is left to the catalog (None).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from unifier import schedule
from unifier.adapter import Adapter, Capabilities, ChangeSet, run_id_for_firing
from unifier.adapters.airflow import ADAPTER
from unifier.adapters.airflow.api import RestV1, RestV2
from unifier.adapters.airflow.client import AirflowClient, AirflowHTTPError
from unifier.adapters.airflow.pages import listed, read_pages
from unifier.adapters.airflow.settings import AirflowSettings
from unifier.adapters.timestamps import parse_time
from unifier.errors import AdapterError, NotFound, TriggerRefused
from unifier.model import (
    Cause,
    CauseKind,
    Health,
    Job,
    Run,
    RunState,
    map_state,
    utcnow,
)

HEALTH_TTL = 60.0  # seconds a health() answer is reused
# trigger answers that refuse this run (bad conf, bad body), not the caller or the server
REFUSED_TRIGGER_STATUSES = frozenset({400, 422})
RUN_ID_PREFIX = "unifier"
NOTE_PREFIX = "unifier firing "  # the run's note names the firing: a 409 is adopted only after checking it

# DagRunState of Airflow 3 -> normalized. Anything else maps to unknown.
STATE_MAP: dict[str, RunState] = {
    "queued": RunState.QUEUED,
    "running": RunState.RUNNING,
    "success": RunState.SUCCEEDED,
    "failed": RunState.FAILED,
}

# DagRunType -> who caused the run. A manual run named by unifier is a unifier trigger.
CAUSE_FOR_RUN_TYPE: dict[str, CauseKind] = {
    "scheduled": CauseKind.SCHEDULE,
    "manual": CauseKind.MANUAL,
    "backfill": CauseKind.MANUAL,
    "asset_triggered": CauseKind.EXTERNAL,
    "asset_materialization": CauseKind.EXTERNAL,
    "operator_triggered": CauseKind.EXTERNAL,
}


class AirflowAdapter(Adapter):
    kind = ADAPTER.kind
    settings_model = ADAPTER.settings
    capabilities = Capabilities(trigger=True, cancel=True, logs=True, schedules=True, push=True,
                                parameters=True)
    state_map: ClassVar[dict[str, RunState]] = STATE_MAP

    settings: AirflowSettings

    def __init__(self, instance: str, settings: AirflowSettings):
        super().__init__(instance, settings)
        self.client = AirflowClient(instance, settings)
        self._default_timezone: str | None = None
        self._health: tuple[float, Health] | None = None
        self._rest: RestV2 | RestV1 | None = None

    @property
    def rest(self) -> RestV2 | RestV1:
        """The REST dialect of this server (asks it once, unless `api_version` says)."""
        if self._rest is None:
            self._rest = RestV1(self.client) if self.client.version == "v1" else RestV2(self.client)
        return self._rest

    # -- links ---------------------------------------------------------------------------

    @property
    def _ui(self) -> str:
        return self.settings.ui_url or self.settings.url

    def dag_url(self, dag_id: str) -> str:
        return self.rest.dag_url(self._ui, dag_id)

    def run_url(self, dag_id: str, run_id: str) -> str:
        return self.rest.run_url(self._ui, dag_id, run_id)

    # -- discover ------------------------------------------------------------------------

    async def discover(self) -> list[Job]:
        return await asyncio.to_thread(self._discover)

    def _discover(self) -> list[Job]:
        dags, _ = read_pages(lambda cursor, offset: self.rest.list_dags(offset), "dags")
        default_tz = self._server_timezone(dags[0]["dag_id"]) if dags else None
        return [self._job(dag, default_tz) for dag in dags]

    def _server_timezone(self, any_dag_id: str) -> str | None:
        """Airflow 3 reports ``[core] default_timezone`` as every DAG's ``timezone`` (the
        server setting, not the DAG's own zone), so one DAG's details tell it. Read once;
        :func:`_fires_at` catches the DAGs scheduled in another zone."""
        if self._default_timezone is None:
            body = self.rest.dag_details(any_dag_id)
            self._default_timezone = (body or {}).get("timezone") or "UTC"
        return self._default_timezone

    def _job(self, dag: dict[str, Any], default_tz: str | None) -> Job:
        dag_id = dag["dag_id"]
        summary = dag.get("timetable_summary")
        next_run = parse_time(dag.get("next_dagrun_run_after")) or parse_time(dag.get("next_dagrun_logical_date"))
        cron = summary if summary and schedule.problem(summary) is None else None
        extra: dict[str, Any] = {
            "timetable_summary": summary,
            "timetable_description": dag.get("timetable_description"),
            "fileloc": dag.get("relative_fileloc") or dag.get("fileloc"),
            "has_import_errors": dag.get("has_import_errors", False),
        }
        tz = None
        if cron:
            tz = default_tz
            # The API exposes no per-DAG time zone. A DAG whose start_date or timetable
            # names another zone fires at other UTC instants than the server default
            # predicts: then say nothing rather than something wrong.
            if next_run is not None and not _fires_at(cron, tz, next_run):
                tz = None
                extra["timezone_unknown"] = ("this DAG's schedule runs in a time zone the Airflow API "
                                             "does not expose; next_run_at is Airflow's own")
        return self.new_job(
            dag_id,
            name=dag.get("dag_display_name") or dag_id,
            description=dag.get("description"),
            owner=", ".join(dag.get("owners") or []) or None,
            tags=sorted({t["name"] if isinstance(t, dict) else str(t) for t in dag.get("tags") or []}),
            schedule=cron,
            timezone=tz,
            paused=bool(dag.get("is_paused")),
            url=self.dag_url(dag_id),
            next_run_at=next_run,
            extra=extra,
        )

    # -- changes -------------------------------------------------------------------------

    async def changes(self, watermark: str | None) -> ChangeSet:
        return await asyncio.to_thread(self._changes, watermark)

    def _changes(self, watermark: str | None) -> ChangeSet:
        before = self.client.requests
        notes: list[str] = []
        mark = _Watermark.parse(watermark)
        if watermark and mark is None:
            notes.append(f"unreadable watermark {watermark[:40]!r}: re-reading recent history")
        if mark is not None:
            since: datetime | None = mark.since - timedelta(seconds=self.settings.watermark_overlap)
        elif self.settings.history_days is not None:
            since = utcnow() - timedelta(days=self.settings.history_days)
        else:
            since = None
        asked_at = utcnow()
        rows, server_time = self._runs_since(since)
        seen_before = mark.seen if mark else frozenset()
        runs: dict[tuple[str, str], Run] = {}
        seen: set[str] = set()
        for row in rows:
            fingerprint = _fingerprint(row)
            seen.add(fingerprint)
            if fingerprint in seen_before:
                continue  # re-read in the overlap, unchanged
            run = self._run(row)
            runs[(row["dag_id"], row["dag_run_id"])] = run
        # The server's clock, not ours: a remote Airflow's clock may differ from this host's.
        # Date has one-second resolution and is truncated, which errs on the early side.
        query_time = server_time or asked_at
        new_mark = _Watermark(since=query_time, seen=frozenset(seen))
        return ChangeSet(runs=list(runs.values()), watermark=new_mark.dump(),
                         requests=self.client.requests - before, notes=notes)

    def _runs_since(self, since: datetime | None) -> tuple[list[dict[str, Any]], datetime | None]:
        """Every DAG run updated at or after ``since``, oldest change first; and the
        server's time at the first page."""
        # keyset pagination where the server has it: a run updated mid-way cannot shift a page
        rows, first = read_pages(lambda cursor, offset: self.rest.list_runs(since, cursor, offset),
                                 "dag_runs", keyset=self.rest.version == "v2")
        server_time = first.server_time
        return rows, server_time

    def _run(self, row: dict[str, Any]) -> Run:
        dag_id, run_id = row["dag_id"], row["dag_run_id"]
        native = row.get("state")
        note = row.get("note") or ""
        run_type = row.get("run_type") or ""
        firing = _firing_from_note(note)
        if run_id.startswith(f"{RUN_ID_PREFIX}-") and run_type == "manual":
            cause = Cause(kind=CauseKind.TRIGGER, actor=row.get("triggering_user_name"), firing_id=firing)
        else:
            cause = Cause(kind=CAUSE_FOR_RUN_TYPE.get(run_type, CauseKind.UNKNOWN),
                          actor=row.get("triggering_user_name"))
        state = map_state(self.state_map, native)
        versions = row.get("dag_versions") or []
        return Run(
            job=self.job_uri(dag_id),
            run_id=run_id,
            state=state,
            native_state=native,
            queued_at=parse_time(row.get("queued_at")),
            started_at=parse_time(row.get("start_date")),
            ended_at=parse_time(row.get("end_date")) if state.terminal else None,
            parameters=row.get("conf") or {},
            cause=cause,
            log_url=self.run_url(dag_id, run_id),
            details={
                "run_type": run_type or None,
                "triggered_by": row.get("triggered_by"),
                "logical_date": row.get("logical_date"),
                "run_after": row.get("run_after"),
                "note": note or None,
                "dag_version": versions[-1].get("version_number") if versions else None,
            },
        )

    # -- trigger, status, cancel -----------------------------------------------------------

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *,
                      fired_at: datetime | None = None) -> Run:
        return await asyncio.to_thread(self._trigger, native_id, params, firing_id)

    def _trigger(self, dag_id: str, params: dict[str, Any], firing_id: str) -> Run:
        run_id = run_id_for_firing(firing_id, prefix=RUN_ID_PREFIX)
        dag = self.rest.get_dag(dag_id)
        if dag.get("is_paused"):
            if not self.settings.unpause_on_trigger:
                existing = self._existing_run(dag_id, run_id)
                if existing is not None:  # an earlier attempt of this firing got through
                    return self._adopt(existing, dag_id, params, firing_id)
                raise TriggerRefused(
                    f"DAG {dag_id!r} is paused in Airflow: a run would stay queued until someone "
                    "unpauses it. Unpause the DAG, or set `unpause_on_trigger: true` on the instance.",
                    instance=self.instance)
            self.rest.unpause(dag_id)
        try:
            resp = self.rest.trigger(dag_id, run_id, dict(params), f"{NOTE_PREFIX}{firing_id}")
        except AirflowHTTPError as exc:
            if exc.status not in REFUSED_TRIGGER_STATUSES:
                raise  # credentials, permissions: not a verdict on this trigger
            # Airflow validated conf against the DAG's params (or the body) and refused it
            raise TriggerRefused(f"Airflow refused to start DAG {dag_id!r}: {exc}",
                                 instance=self.instance) from None
        if resp.status == 409:  # this firing already started its run: adopt it
            existing = self._existing_run(dag_id, run_id)
            if existing is None:
                raise AdapterError(f"Airflow answered 409 for run {run_id} of {dag_id!r} but has no "
                                   "such run", instance=self.instance)
            return self._adopt(existing, dag_id, params, firing_id)
        return self._run(resp.body)

    def _existing_run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        try:
            return self.rest.get_run(dag_id, run_id)
        except NotFound:
            return None

    def _adopt(self, row: dict[str, Any], dag_id: str, params: dict[str, Any], firing_id: str) -> Run:
        """The run carrying this firing's run id is this firing's run, unless its note
        names another firing (a hash collision, or someone reusing the id by hand). A
        note edited since keeps the run adoptable when its conf still matches."""
        note_firing = _firing_from_note(row.get("note") or "")
        ours = note_firing == firing_id if note_firing else (row.get("conf") or {}) == params
        if not ours:
            raise TriggerRefused(
                f"run id {row.get('dag_run_id')!r} of DAG {dag_id!r} already belongs to another run "
                f"(note {row.get('note')!r}); refusing to adopt it for firing {firing_id}",
                instance=self.instance)
        return self._run(row)

    async def status(self, native_id: str, run_id: str) -> Run:
        return await asyncio.to_thread(self._status, native_id, run_id)

    def _status(self, dag_id: str, run_id: str) -> Run:
        row = self._existing_run(dag_id, run_id)
        if row is None:
            raise NotFound(f"{self.instance}: no run {run_id!r} of DAG {dag_id!r} in Airflow")
        return self._run(row)

    async def cancel(self, native_id: str, run_id: str) -> None:
        await asyncio.to_thread(self._cancel, native_id, run_id)

    def _cancel(self, dag_id: str, run_id: str) -> None:
        """Mark the run failed, as the UI's "mark failed": Airflow stops its running
        tasks. A finished run is left alone (marking a success failed would rewrite it)."""
        run = self._status(dag_id, run_id)
        if run.state.terminal:
            return
        self.rest.mark_failed(dag_id, run_id)

    # -- logs ----------------------------------------------------------------------------

    async def logs(self, native_id: str, run_id: str) -> str:
        return await asyncio.to_thread(self._logs, native_id, run_id)

    def _logs(self, dag_id: str, run_id: str) -> str:
        """Every try of every task instance that ran, in the order they started."""
        tis, _ = read_pages(lambda cursor, offset: self.rest.task_instances_page(dag_id, run_id, offset),
                            "task_instances")
        far = datetime.max.replace(tzinfo=UTC)
        tis.sort(key=lambda ti: (parse_time(ti.get("start_date")) or far, ti.get("task_id", ""),
                                 ti.get("map_index", -1)))
        parts: list[str] = []
        for ti in tis:
            task_id, map_index = ti["task_id"], ti.get("map_index", -1)
            label = task_id if map_index in (None, -1) else f"{task_id}[{map_index}]"
            for attempt in range(1, int(ti.get("try_number") or 0) + 1):
                body = self.rest.task_log(dag_id, run_id, task_id, attempt, map_index)
                parts.append(f"=== {label} (try {attempt}, {ti.get('state')}) ===\n{_render_log(body)}")
        return "\n".join(parts)

    # -- health --------------------------------------------------------------------------

    async def health(self) -> Health:
        # The control loop asks after every sync; Airflow's health changes on a slower
        # scale than runs, and two requests a cycle would triple the cost of a quiet sync.
        now = time.monotonic()
        if self._health is None or now - self._health[0] >= HEALTH_TTL:
            self._health = (now, await asyncio.to_thread(self._health_now))
        return self._health[1]

    def _health_now(self) -> Health:
        try:
            status = self.rest.health()
            errors = self.rest.import_errors()
        except AdapterError as exc:
            return Health(ok=False, message=str(exc))
        components = {name: (status.get(name) or {}).get("status") for name in
                      ("metadatabase", "scheduler", "dag_processor", "triggerer")}
        # a triggerer is optional, and a dag-processor may run inside the scheduler
        sick = [name for name in ("metadatabase", "scheduler") if components[name] != "healthy"]
        import_errors = [{"file": e.get("filename"), "error": _last_line(e.get("stack_trace")),
                          "at": e.get("timestamp")} for e in listed(errors, "import_errors")]
        total = int(errors.get("total_entries") or len(import_errors))
        messages = [f"unhealthy: {', '.join(sick)}"] if sick else []
        if total:
            files = ", ".join(e["file"] or "?" for e in import_errors[:5])
            messages.append(f"{total} DAG file(s) fail to import: {files}")
        # A broken DAG file does not stop the instance: it stays ok and says so.
        return Health(ok=not sick, message="; ".join(messages) or "healthy",
                      details={"components": components, "import_errors": import_errors,
                               "import_error_count": total})

    async def close(self) -> None:
        self.client.close()


# ------------------------------------------------------------------------ helpers


class _Watermark:
    """``{"since": server time of the last query, "seen": fingerprints read by it}``."""

    def __init__(self, since: datetime, seen: frozenset[str]):
        self.since = since
        self.seen = seen

    @classmethod
    def parse(cls, text: str | None) -> _Watermark | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            since = datetime.fromisoformat(data["since"])
            return cls(since if since.tzinfo else since.replace(tzinfo=UTC),
                       frozenset(data.get("seen") or []))
        except (ValueError, KeyError, TypeError):
            return None

    def dump(self) -> str:
        return json.dumps({"v": 1, "since": self.since.isoformat(), "seen": sorted(self.seen)},
                          separators=(",", ":"))


def _fingerprint(row: dict[str, Any]) -> str:
    """What a sync shows of a run: when it changes, the run is reported again."""
    fields = [row.get(k) for k in ("dag_id", "dag_run_id", "state", "queued_at", "start_date",
                                   "end_date", "note")]
    return hashlib.sha1(json.dumps(fields, default=str).encode()).hexdigest()[:16]


def _firing_from_note(note: str) -> str | None:
    first = note.strip().splitlines()[0] if note.strip() else ""
    if not first.startswith(NOTE_PREFIX):
        return None
    return first[len(NOTE_PREFIX):].strip() or None


def _fires_at(cron: str, tz: str | None, instant: datetime) -> bool:
    try:
        return schedule.next_run(cron, tz, after=instant - timedelta(seconds=1)) == instant
    except ValueError:
        return False


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _render_log(body: Any) -> str:
    """Airflow 3 returns structured log records; older task logs come as one string."""
    content = body.get("content") if isinstance(body, dict) else body
    if isinstance(content, str):
        return content
    lines = []
    for record in content or []:
        if not isinstance(record, dict):
            lines.append(str(record))
            continue
        event = record.get("event", "")
        stamp = record.get("timestamp")
        if stamp:
            level = str(record.get("level", "")).upper()
            lines.append(f"[{stamp}] {level} {record.get('logger', '')}: {event}".replace("  ", " "))
        else:
            lines.append(str(event))
    return "\n".join(lines)
