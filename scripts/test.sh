#!/usr/bin/env bash
# Sets everything up and runs every test, including those against a real Airflow
# server (started here, always stopped after) and PostgreSQL (skipped, saying why,
# where no server answers on 127.0.0.1:5432). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
trap 'bash tests/airflow/server.sh stop >/dev/null 2>&1 || true' EXIT
if [ -f tests/airflow/server.sh ]; then
  bash tests/airflow/server.sh start
  # shellcheck disable=SC1091
  source .airflow-ci/env
fi
.venv/bin/python -m pytest "$@"
