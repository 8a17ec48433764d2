"""The Airflow adapter plugin: every DAG of an Airflow deployment is a job.

Speaks Airflow 3's stable REST API v2 through ``apache-airflow-client`` (the
``[airflow]`` extra), and Airflow 2's REST API v1 (basic auth) over the same client.
Runs are read incrementally with one query per sync across all DAGs; triggers are
exactly-once through a deterministic ``dag_run_id``. The listener plugin in
:mod:`unifier.adapters.airflow.listener` (a file users drop into Airflow's plugins
folder) pushes run state changes to unifier's webhook.
"""

from __future__ import annotations

from unifier.hookspecs import hookimpl
from unifier.plugins import AdapterRegistry, AdapterSpec

# The one declaration of this adapter kind: the registry reads it, and AirflowAdapter takes
# its kind and settings model from it.
ADAPTER = AdapterSpec(
    kind="airflow",
    settings_path="unifier.adapters.airflow.settings:AirflowSettings",
    implementation="unifier.adapters.airflow.adapter:AirflowAdapter",
    extra="airflow",
    description="Apache Airflow 3 (REST API v2) and 2 (v1): DAGs, DAG runs, trigger, cancel, logs, listener push",
)


@hookimpl
def unifier_register_adapters(register: AdapterRegistry) -> None:
    register.add(ADAPTER)
