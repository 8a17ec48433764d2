"""Airflow listener plugin: tells unifier the moment a DAG run changes state.

Drop this one file into Airflow's plugins folder (``$AIRFLOW_HOME/plugins`` or
``[core] plugins_folder``) on the machines that run the scheduler and the API server,
and set two environment variables for those processes::

    UNIFIER_WEBHOOK_URL=http://unifier.example:8000/hooks/airflow-prod   # the instance's name
    UNIFIER_WEBHOOK_TOKEN=...                                            # sent as a Bearer token

No DAG changes. When a DAG run starts running, succeeds or fails, Airflow calls the
hooks below, which POST ``{"event": "dag_run_success", "dag_id": ..., "run_id": ...,
"state": "success"}`` to the URL. unifier then syncs that instance at once; its regular
polling stays the fallback, so a lost notification only delays a run's visibility to
the next poll.

It is fire-and-forget: the POST happens on a daemon thread with a short timeout, and
every error is swallowed (logged at most once a minute), so an unreachable unifier
never slows or breaks the scheduler. It needs nothing beyond Airflow and the Python
standard library; unifier itself need not be installed next to Airflow.

Check it loaded: ``airflow plugins`` lists ``unifier_listener``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import urllib.request
from typing import Any

log = logging.getLogger("unifier.listener")

TIMEOUT_SECONDS = 2.0
_last_warning = 0.0

try:  # inside Airflow
    from airflow.listeners import hookimpl
    from airflow.plugins_manager import AirflowPlugin
except ImportError:  # imported by unifier's own tests or docs, without Airflow installed
    AirflowPlugin = object

    def hookimpl(func):
        return func


def payload(event: str, dag_run: Any) -> dict[str, Any]:
    state = getattr(dag_run, "state", None)
    return {
        "event": event,
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
        "state": getattr(state, "value", state),
    }


def post(body: dict[str, Any], url: str | None = None, token: str | None = None) -> bool:
    """POST one notification; True when unifier accepted it. Never raises."""
    global _last_warning
    url = url or os.environ.get("UNIFIER_WEBHOOK_URL")
    if not url:
        return False
    token = token if token is not None else os.environ.get("UNIFIER_WEBHOOK_TOKEN", "")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return 200 <= response.status < 300
    except Exception as exc:  # noqa: BLE001 -- never let a notification break the scheduler
        now = time.monotonic()
        if now - _last_warning > 60:
            _last_warning = now
            log.warning("unifier listener: could not notify %s: %s", url, exc)
        return False


def notify(event: str, dag_run: Any) -> None:
    """Send in the background: the scheduler loop must not wait on the network."""
    if not os.environ.get("UNIFIER_WEBHOOK_URL"):
        return
    try:
        body = payload(event, dag_run)
    except Exception:  # noqa: BLE001 -- an odd dag_run object: skip it, never raise inside Airflow
        return
    threading.Thread(target=post, args=(body,), name="unifier-notify", daemon=True).start()


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    notify("dag_run_running", dag_run)


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    notify("dag_run_success", dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    notify("dag_run_failed", dag_run)


class UnifierListenerPlugin(AirflowPlugin):
    """Registers this module's hooks with Airflow's listener manager."""

    name = "unifier_listener"
    listeners = [sys.modules[__name__]]  # noqa: RUF012 -- the shape AirflowPlugin expects
