"""The two REST dialects the adapter speaks, behind one set of calls.

:class:`RestV2` is Airflow 3's ``/api/v2`` through the generated client's methods.
:class:`RestV1` is Airflow 2's ``/api/v1`` (the generated client of Airflow 3 has no v1
methods, so the paths are written here and sent through the same connection pool);
it reshapes what v1 returns into v2's field names, so the adapter reads one shape:

    v1 schedule_interval {"__type": "CronExpression", "value": E}  ->  timetable_summary E
    v1 next_dagrun_create_after / next_dagrun   ->  next_dagrun_run_after / next_dagrun_logical_date

Both return parsed JSON bodies (dicts), or a :class:`~.client.Response` where the caller
needs the status (409 on trigger) or the server's clock (the runs query).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import airflow_client.client as af

from unifier.adapters.airflow.client import AirflowClient, Response

PAGE = 100  # Airflow's default maximum_page_limit: asking for more still returns 100


def _q(value: str) -> str:
    return quote(value, safe="")


class RestV2:
    version = "v2"

    def __init__(self, client: AirflowClient):
        self.c = client
        self.dags = af.DAGApi(client.api)
        self.dag_runs = af.DagRunApi(client.api)
        self.task_instances = af.TaskInstanceApi(client.api)
        self.import_errors_api = af.ImportErrorApi(client.api)
        self.monitor = af.MonitorApi(client.api)

    def dag_url(self, ui: str, dag_id: str) -> str:
        return f"{ui}/dags/{_q(dag_id)}"

    def run_url(self, ui: str, dag_id: str, run_id: str) -> str:
        return f"{ui}/dags/{_q(dag_id)}/runs/{_q(run_id)}"

    def list_dags(self, offset: int) -> Response:
        return self.c.call(self.dags.get_dags_without_preload_content, what="GET /api/v2/dags",
                           limit=PAGE, offset=offset, order_by=["dag_id"], exclude_stale=True)

    def dag_details(self, dag_id: str) -> dict[str, Any]:
        return self.c.call(self.dags.get_dag_details_without_preload_content, dag_id,
                           what=f"GET /api/v2/dags/{dag_id}/details").body

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        return self.c.call(self.dags.get_dag_without_preload_content, dag_id,
                           what=f"GET /api/v2/dags/{dag_id}").body

    def unpause(self, dag_id: str) -> None:
        self.c.call(self.dags.patch_dag_without_preload_content, dag_id, af.DAGPatchBody(is_paused=False),
                    update_mask=["is_paused"], what=f"PATCH /api/v2/dags/{dag_id} (unpause)")

    def list_runs(self, since: datetime | None, cursor: str | None, offset: int) -> Response:
        """Runs across all DAGs (``~``) updated at or after ``since``, oldest change first.
        ``cursor`` ("" for the first page) selects keyset pagination, else ``offset``."""
        kwargs: dict[str, Any] = {"limit": PAGE, "order_by": ["updated_at"]}
        if since is not None:
            kwargs["updated_at_gte"] = since
        if cursor is not None:
            kwargs["cursor"] = cursor
        else:
            kwargs["offset"] = offset
        return self.c.call(self.dag_runs.get_dag_runs_without_preload_content, "~",
                           what="GET /api/v2/dags/~/dagRuns", **kwargs)

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any], note: str) -> Response:
        # logical_date is sent as an explicit null (the client's model does this): Airflow 3
        # answers 422 without it, and a null one lets any number of manual runs coexist.
        body = af.TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=None, conf=conf, note=note)
        return self.c.call(self.dag_runs.trigger_dag_run_without_preload_content, dag_id, body,
                           what=f"POST /api/v2/dags/{dag_id}/dagRuns")

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.c.call(self.dag_runs.get_dag_run_without_preload_content, dag_id, run_id,
                           what=f"GET dagRuns/{run_id} of {dag_id}").body

    def mark_failed(self, dag_id: str, run_id: str) -> None:
        self.c.call(self.dag_runs.patch_dag_run_without_preload_content, dag_id, run_id,
                    af.DAGRunPatchBody(state=af.DagRunMutableStates.FAILED), update_mask=["state"],
                    what=f"PATCH dagRuns/{run_id} of {dag_id} (mark failed)")

    def task_instances_page(self, dag_id: str, run_id: str, offset: int) -> Response:
        return self.c.call(self.task_instances.get_task_instances_without_preload_content, dag_id, run_id,
                           limit=PAGE, offset=offset, what=f"GET taskInstances of {dag_id}/{run_id}")

    def task_log(self, dag_id: str, run_id: str, task_id: str, attempt: int, map_index: int) -> Any:
        return self.c.call(self.task_instances.get_log_without_preload_content, dag_id, run_id, task_id,
                           attempt, full_content=True, map_index=map_index,
                           what=f"GET logs of {dag_id}/{run_id}/{task_id} try {attempt}").body

    def health(self) -> dict[str, Any]:
        return self.c.call(self.monitor.get_health_without_preload_content,
                           what="GET /api/v2/monitor/health").body or {}

    def import_errors(self) -> dict[str, Any]:
        return self.c.call(self.import_errors_api.get_import_errors_without_preload_content,
                           limit=PAGE, what="GET /api/v2/importErrors").body or {}


class RestV1:
    """Airflow 2.x (tested with 2.11): basic auth, offset pagination only."""

    version = "v1"
    prefix = "/api/v1"

    def __init__(self, client: AirflowClient):
        self.c = client

    def _get(self, path: str, what: str | None = None, **query: Any) -> Any:
        return self.c.raw("GET", self.prefix + path, query=query, what=what or f"GET {self.prefix}{path}").body

    def dag_url(self, ui: str, dag_id: str) -> str:
        return f"{ui}/dags/{_q(dag_id)}/grid"

    def run_url(self, ui: str, dag_id: str, run_id: str) -> str:
        return f"{ui}/dags/{_q(dag_id)}/grid?dag_run_id={_q(run_id)}"

    def list_dags(self, offset: int) -> Response:
        resp = self.c.raw("GET", f"{self.prefix}/dags", what=f"GET {self.prefix}/dags",
                          query={"limit": PAGE, "offset": offset, "order_by": "dag_id", "only_active": "true"})
        if isinstance(resp.body, dict) and isinstance(resp.body.get("dags"), list):
            resp.body["dags"] = [_dag_v1_to_v2(d) for d in resp.body["dags"]]
        return resp

    def dag_details(self, dag_id: str) -> dict[str, Any]:
        return self._get(f"/dags/{_q(dag_id)}/details")

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        return self._get(f"/dags/{_q(dag_id)}")

    def unpause(self, dag_id: str) -> None:
        self.c.raw("PATCH", f"{self.prefix}/dags/{_q(dag_id)}", query={"update_mask": "is_paused"},
                   body={"is_paused": False}, what=f"PATCH {self.prefix}/dags/{dag_id} (unpause)")

    def list_runs(self, since: datetime | None, cursor: str | None, offset: int) -> Response:
        query: dict[str, Any] = {"limit": PAGE, "offset": offset, "order_by": "updated_at"}
        if since is not None:
            query["updated_at_gte"] = since.isoformat()
        return self.c.raw("GET", f"{self.prefix}/dags/~/dagRuns", query=query,
                          what=f"GET {self.prefix}/dags/~/dagRuns")

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any], note: str) -> Response:
        # Airflow 2 gives a manual run the logical date "now" when none is sent.
        return self.c.raw("POST", f"{self.prefix}/dags/{_q(dag_id)}/dagRuns",
                          body={"dag_run_id": run_id, "conf": conf, "note": note},
                          what=f"POST {self.prefix}/dags/{dag_id}/dagRuns")

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self._get(f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", what=f"GET dagRuns/{run_id} of {dag_id}")

    def mark_failed(self, dag_id: str, run_id: str) -> None:
        self.c.raw("PATCH", f"{self.prefix}/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", body={"state": "failed"},
                   what=f"PATCH dagRuns/{run_id} of {dag_id} (mark failed)")

    def task_instances_page(self, dag_id: str, run_id: str, offset: int) -> Response:
        return self.c.raw("GET", f"{self.prefix}/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances",
                          query={"limit": PAGE, "offset": offset}, what=f"GET taskInstances of {dag_id}/{run_id}")

    def task_log(self, dag_id: str, run_id: str, task_id: str, attempt: int, map_index: int) -> Any:
        # JSON would wrap the text in a Python repr of (host, text) tuples: ask for text
        path = f"{self.prefix}/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/logs/{attempt}"
        return self.c.raw("GET", path, query={"full_content": "true", "map_index": map_index}, text=True,
                          what=f"GET logs of {dag_id}/{run_id}/{task_id} try {attempt}").body

    def health(self) -> dict[str, Any]:
        return self._get("/health") or {}

    def import_errors(self) -> dict[str, Any]:
        return self._get("/importErrors", limit=PAGE) or {}


def _dag_v1_to_v2(dag: dict[str, Any]) -> dict[str, Any]:
    schedule = dag.get("schedule_interval")
    summary = None
    if isinstance(schedule, dict):
        kind = schedule.get("__type")
        if kind == "CronExpression":
            summary = schedule.get("value")
        elif kind == "TimeDelta":
            summary = str(timedelta(days=schedule.get("days", 0), seconds=schedule.get("seconds", 0),
                                    microseconds=schedule.get("microseconds", 0)))
        elif kind == "RelativeDelta":
            summary = "relativedelta"
    out = dict(dag)
    out.setdefault("timetable_summary", summary)
    out.setdefault("next_dagrun_run_after", dag.get("next_dagrun_create_after"))
    out.setdefault("next_dagrun_logical_date", dag.get("next_dagrun"))
    return out
