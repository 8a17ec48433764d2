#!/usr/bin/env bash
# A real Airflow 3 on loopback, for the tests marked `airflow` and benchmarks/airflow_sync.py.
#
#   bash tests/airflow/server.sh start   install (once), start, wait until ready; writes .airflow-ci/env
#   source .airflow-ci/env               AIRFLOW_URL, UNIFIER_TEST_AIRFLOW_{URL,USER,PASSWORD}, ...
#   bash tests/airflow/server.sh stop    stop every Airflow process (the whole process group)
#
# Everything lives under .airflow-ci/ at the repository root (gitignored): the virtual
# environment (kept between starts), AIRFLOW_HOME with a fresh SQLite database per start,
# component logs in .airflow-ci/logs/. Knobs: AIRFLOW_VERSION (3.3.2), PYTHON (python3).
#
# The components start separately rather than through `airflow standalone`: standalone
# ignores SIGINT in the background and binds its log servers to 0.0.0.0:8793/8794.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROOT=$REPO/.airflow-ci
VENV=$ROOT/venv
AIRFLOW_VERSION=${AIRFLOW_VERSION:-3.3.2}
PY=${PYTHON:-python3}
USER_NAME=admin
USER_PASSWORD=admin
# DAG ids the readiness check waits for (the last generated page DAG is parsed with the rest of its file)
EXPECT_DAGS="unifier_succeeds unifier_fails unifier_slow unifier_frequent unifier_nightly unifier_paused page_dag_199"

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

install() {
  if [ -x "$VENV/bin/airflow" ] && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))' 2>/dev/null)" = "$AIRFLOW_VERSION" ]; then
    return 0
  fi
  echo "installing apache-airflow==$AIRFLOW_VERSION into $VENV (about a minute, once)" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "apache-airflow==$AIRFLOW_VERSION" >&2
}

start() {
  [ -f "$ROOT/pgid" ] && stop  # never two Airflows on one state directory
  install
  rm -rf "$ROOT/home" "$ROOT/logs"
  mkdir -p "$ROOT/home" "$ROOT/logs" "$ROOT/plugins"
  # The listener plugin is the product file itself, dropped into the plugins folder as a user would.
  ln -sf "$REPO/adapters/airflow/listener.py" "$ROOT/plugins/unifier_listener.py"
  local port hook_port secret hook_token
  port=$(free_port)
  hook_port=$(free_port)
  secret=$("$PY" -c 'import secrets;print(secrets.token_hex(32))')
  hook_token=$("$PY" -c 'import secrets;print(secrets.token_hex(16))')
  cat > "$ROOT/env" <<EOF
# written by tests/airflow/server.sh start; source it before the tests
export AIRFLOW_URL=http://127.0.0.1:$port
export UNIFIER_TEST_AIRFLOW_URL=http://127.0.0.1:$port
export UNIFIER_TEST_AIRFLOW_USER=$USER_NAME
export UNIFIER_TEST_AIRFLOW_PASSWORD=$USER_PASSWORD
# the listener plugin inside Airflow posts here; tests serve this port themselves
export UNIFIER_TEST_WEBHOOK_URL=http://127.0.0.1:$hook_port/hooks/airflow-ci
export UNIFIER_TEST_WEBHOOK_TOKEN=$hook_token
export UNIFIER_TEST_AIRFLOW_ROOT=$ROOT
EOF
  # Airflow's own configuration, only for the Airflow processes (kept out of the env file
  # so that sourcing it does not leak AIRFLOW__* settings into unifier's tests).
  cat > "$ROOT/airflow.env" <<EOF
export AIRFLOW_HOME=$ROOT/home
export PATH=$VENV/bin:\$PATH
export AIRFLOW__CORE__DAGS_FOLDER=$REPO/tests/airflow/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$ROOT/home/airflow.db
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=$USER_NAME:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$ROOT/home/passwords.json
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$port
export AIRFLOW__API__BASE_URL=http://127.0.0.1:$port
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$port/execution/
export AIRFLOW__API_AUTH__JWT_SECRET=$secret
export AIRFLOW__API__SECRET_KEY=$secret
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=10
export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL=60
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=1
export UNIFIER_WEBHOOK_URL=http://127.0.0.1:$hook_port/hooks/airflow-ci
export UNIFIER_WEBHOOK_TOKEN=$hook_token
EOF
  printf '{"%s": "%s"}\n' "$USER_NAME" "$USER_PASSWORD" > "$ROOT/home/passwords.json"
  (
    # shellcheck disable=SC1091
    source "$ROOT/airflow.env"
    airflow db migrate > "$ROOT/logs/db-migrate.log" 2>&1
    # setsid: a new process group whose id is the launcher's pid, so `stop` signals
    # every component and every task process at once.
    setsid bash -c '
      L="$1"
      airflow api-server --host 127.0.0.1 --port "$AIRFLOW__API__PORT" > "$L/api-server.log" 2>&1 &
      airflow scheduler --skip-serve-logs > "$L/scheduler.log" 2>&1 &
      airflow dag-processor > "$L/dag-processor.log" 2>&1 &
      wait' _ "$ROOT/logs" < /dev/null > "$ROOT/logs/launcher.log" 2>&1 &
    echo $! > "$ROOT/pgid"
  ) || { echo "airflow db migrate failed: see $ROOT/logs/db-migrate.log" >&2; return 1; }
  # shellcheck disable=SC1091
  source "$ROOT/env"
  if ! "$VENV/bin/python" "$REPO/tests/airflow/wait_ready.py" "$EXPECT_DAGS"; then
    echo "--- last lines of the Airflow logs in $ROOT/logs:" >&2
    tail -n 15 "$ROOT"/logs/*.log >&2 || true
    stop
    return 1
  fi
  echo "AIRFLOW_URL=$AIRFLOW_URL  (source $ROOT/env)"
}

stop() {
  [ -f "$ROOT/pgid" ] || return 0
  local g
  g=$(cat "$ROOT/pgid")
  kill -TERM -- "-$g" 2>/dev/null || true
  for _ in $(seq 1 120); do
    if ! ps -e -o pgid= | awk -v g="$g" '$1==g{f=1} END{exit !f}'; then
      rm -f "$ROOT/pgid"
      return 0
    fi
    sleep 0.25
  done
  kill -KILL -- "-$g" 2>/dev/null || true
  rm -f "$ROOT/pgid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
