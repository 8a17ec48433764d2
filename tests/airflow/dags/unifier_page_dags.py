"""200 tiny DAGs (page_dag_000 .. page_dag_199) so that listing DAGs needs several pages.

One file, one loop: Airflow parses it once per interval. Unscheduled and paused: they
never run, they only exist.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

PAGE_DAGS = 200

for _i in range(PAGE_DAGS):
    with DAG(f"page_dag_{_i:03d}", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC),
             catchup=False, tags=["pagination"]) as _dag:
        EmptyOperator(task_id="noop")
    globals()[_dag.dag_id] = _dag
