"""The Airflow adapter plugin: every DAG of an Airflow deployment is a job.

Speaks Airflow 3's stable REST API v2 through ``apache-airflow-client`` (the
``[airflow]`` extra), and Airflow 2's REST API v1 (basic auth) over the same client. Runs are read incrementally with one query per sync across all
DAGs; triggers are exactly-once through a deterministic ``dag_run_id``. The listener
plugin in :mod:`unifier.adapters.airflow.listener` (a file users drop into Airflow's
plugins folder) pushes run state changes to unifier's webhook.
"""

from __future__ import annotations

from typing import Any

from unifier.hookspecs import hookimpl


@hookimpl
def unifier_register_adapters(register: Any) -> None:
    from unifier.adapters.airflow.settings import AirflowSettings

    register.add_adapter(
        kind="airflow",
        settings=AirflowSettings,
        implementation="unifier.adapters.airflow.adapter:AirflowAdapter",
        extra="airflow",
        description="Apache Airflow 3 (REST API v2): DAGs, DAG runs, trigger, cancel, logs, listener push",
    )
