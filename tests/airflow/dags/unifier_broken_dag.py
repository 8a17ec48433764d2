"""A DAG file that fails to import, on purpose: the adapter must report it through
health() (an Airflow "import error"), not crash. The words airflow and DAG in this
docstring make Airflow's safe-mode scan parse the file."""

raise RuntimeError("deliberately broken DAG file (unifier import-error test)")
