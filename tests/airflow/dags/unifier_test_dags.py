"""Test DAGs for the unifier Airflow adapter (parsed by the real Airflow in tests/airflow/server.sh).

Kept cheap to parse: no top-level work, PythonOperator callables defined once.

    unifier_succeeds   two tasks; echoes its conf (the trigger's parameters) into the log;
                       its `greeting` param must be a string
    unifier_fails      one task that raises
    unifier_slow       one task sleeping 60 s (the cancel test marks the run failed midway)
    unifier_frequent   scheduled by Airflow itself every 20 s, unpaused on creation
    unifier_nightly    cron at 02:30 in Airflow's default time zone (UTC), unpaused
    unifier_paused     cron in Europe/Paris, stays paused (the paused-trigger test)
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param

START = datetime(2026, 1, 1, tzinfo=pendulum.UTC)


def _greet(**context):
    params = context["dag_run"].conf or {}
    print(f"unifier test conf: {params}")
    return params.get("greeting", "no greeting")


def _check(**context):
    print("second task ran after the first")


def _fail(**context):
    raise RuntimeError("this DAG fails on purpose (unifier adapter test)")


def _sleep(**context):
    time.sleep(60)


def _tick(**context):
    print("scheduled by Airflow")


with DAG(
    "unifier_succeeds",
    description="Succeeds; echoes the trigger parameters",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["unifier", "test"],
    default_args={"owner": "data-team"},
    params={"greeting": Param("hello", type="string")},
    is_paused_upon_creation=False,
):
    PythonOperator(task_id="greet", python_callable=_greet) >> PythonOperator(
        task_id="check", python_callable=_check
    )

with DAG(
    "unifier_fails",
    description="Always fails",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["unifier", "test"],
    is_paused_upon_creation=False,
    default_args={"retries": 0},
):
    PythonOperator(task_id="explode", python_callable=_fail)

with DAG(
    "unifier_slow",
    description="Sleeps a minute",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["unifier", "test"],
    is_paused_upon_creation=False,
):
    PythonOperator(task_id="sleep", python_callable=_sleep)

with DAG(
    "unifier_frequent",
    description="Run by Airflow's own scheduler every 20 seconds",
    schedule=timedelta(seconds=20),
    start_date=START,
    catchup=False,
    tags=["unifier", "scheduled"],
    is_paused_upon_creation=False,
    max_active_runs=1,
):
    PythonOperator(task_id="tick", python_callable=_tick)

with DAG(
    "unifier_nightly",
    description="Cron schedule in the default time zone",
    schedule="30 2 * * *",
    start_date=START,
    catchup=False,
    tags=["unifier", "scheduled"],
    is_paused_upon_creation=False,
):
    PythonOperator(task_id="tick", python_callable=_tick)

with DAG(
    "unifier_paused",
    description="Stays paused; weekdays at 06:00 Paris time",
    schedule="0 6 * * 1-5",
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"),
    catchup=False,
    tags=["unifier", "test"],
    is_paused_upon_creation=True,
):
    PythonOperator(task_id="tick", python_callable=_tick)
