"""Test DAGs for the REST v1 (Airflow 2) side of the adapter, parsed by the Airflow 2.11
of tests/airflow/server.sh. Airflow 2 syntax (``from airflow import DAG``).

    unifier_succeeds   two tasks; echoes its conf; `greeting` must be a string
    unifier_fails      one task that raises
    unifier_slow       sleeps 30 s (the cancel test)
    unifier_paused     stays paused
    v1_page_dag_000..119  tiny paused DAGs, so that listing DAGs takes two pages
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from airflow import DAG
from airflow.models.param import Param
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import PythonOperator

START = datetime(2026, 1, 1, tzinfo=UTC)


def _greet(**context):
    print(f"unifier test conf: {context['dag_run'].conf or {}}")


def _check(**context):
    print("second task ran after the first")


def _fail(**context):
    raise RuntimeError("this DAG fails on purpose (unifier adapter test)")


def _sleep(**context):
    time.sleep(30)


with DAG("unifier_succeeds", description="Succeeds; echoes the trigger parameters", schedule=None,
         start_date=START, catchup=False, tags=["unifier", "test"], default_args={"owner": "data-team"},
         params={"greeting": Param("hello", type="string")}, is_paused_upon_creation=False):
    PythonOperator(task_id="greet", python_callable=_greet) >> PythonOperator(task_id="check", python_callable=_check)

with DAG("unifier_fails", description="Always fails", schedule=None, start_date=START, catchup=False,
         tags=["unifier", "test"], is_paused_upon_creation=False, default_args={"retries": 0}):
    PythonOperator(task_id="explode", python_callable=_fail)

with DAG("unifier_slow", description="Sleeps 30 s", schedule=None, start_date=START, catchup=False,
         tags=["unifier", "test"], is_paused_upon_creation=False):
    PythonOperator(task_id="sleep", python_callable=_sleep)

with DAG("unifier_paused", description="Stays paused", schedule="30 2 * * *", start_date=START,
         catchup=False, tags=["unifier", "test"], is_paused_upon_creation=True):
    EmptyOperator(task_id="noop")

for _i in range(120):
    with DAG(f"v1_page_dag_{_i:03d}", schedule=None, start_date=START, catchup=False,
             tags=["pagination"]) as _dag:
        EmptyOperator(task_id="noop")
    globals()[_dag.dag_id] = _dag
