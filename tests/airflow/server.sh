#!/usr/bin/env bash
# Real Airflows on loopback, for the tests marked `airflow` and benchmarks/airflow_sync.py.
#
#   bash tests/airflow/server.sh start   install (once), start, wait until ready; writes .airflow-ci/env
#   source .airflow-ci/env               AIRFLOW_URL, UNIFIER_TEST_AIRFLOW_{URL,USER,PASSWORD}, ...
#   bash tests/airflow/server.sh stop    stop every Airflow process (whole process groups)
#
# Airflow 3 (AIRFLOW_VERSION, 3.3.2; REST v2): LocalExecutor with parallelism 4, SQLite,
# SimpleAuthManager admin/admin, DAGs in tests/airflow/dags, the listener plugin
# (adapters/airflow/listener.py) in its plugins folder posting to UNIFIER_TEST_WEBHOOK_URL.
# Airflow 2 (AIRFLOW_V1_VERSION, 2.11.2; REST v1) for the adapter's v1 side: basic auth,
# SequentialExecutor (Airflow 2 allows no other with SQLite), DAGs in
# tests/airflow/dags_v1, URL in UNIFIER_TEST_AIRFLOW1_URL. AIRFLOW_V1=0 leaves it out
# (its tests then skip locally and fail under CI=true).
#
# Everything lives under .airflow-ci/ at the repository root (gitignored): virtual
# environments (kept between starts; the two install in parallel, once), homes with a
# fresh SQLite database per start, logs in .airflow-ci/logs/. PYTHON (python3) makes the
# virtual environments.
#
# Airflow 3's components start separately rather than through `airflow standalone`:
# standalone ignores SIGINT in the background and binds its log servers to 0.0.0.0.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROOT=$REPO/.airflow-ci
VENV=$ROOT/venv
V1=$ROOT/v1
AIRFLOW_VERSION=${AIRFLOW_VERSION:-3.3.2}
AIRFLOW_V1_VERSION=${AIRFLOW_V1_VERSION:-2.11.2}
WITH_V1=${AIRFLOW_V1:-1}
PY=${PYTHON:-python3}
USER_NAME=admin
USER_PASSWORD=admin
# DAG ids the readiness checks wait for (the last generated page DAG is parsed with the rest of its file)
EXPECT_DAGS="unifier_succeeds unifier_fails unifier_slow unifier_frequent unifier_nightly unifier_paused page_dag_199"
EXPECT_V1_DAGS="unifier_succeeds unifier_fails unifier_slow unifier_paused v1_page_dag_119"

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
new_secret() { "$PY" -c "import secrets;print(secrets.token_hex($1))"; }

install() {  # install VENV VERSION
  local venv=$1 version=$2 have
  have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))' 2>/dev/null || true)
  [ -x "$venv/bin/airflow" ] && [ "$have" = "$version" ] && return 0
  echo "installing apache-airflow==$version into $venv (a minute or more, once)" >&2
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "apache-airflow==$version" >&2
}

start() {
  stop  # never two Airflows on one state directory
  local v1_install=""
  if [ "$WITH_V1" = 1 ]; then
    install "$V1/venv" "$AIRFLOW_V1_VERSION" &
    v1_install=$!
  fi
  install "$VENV" "$AIRFLOW_VERSION"
  if [ -n "$v1_install" ] && ! wait "$v1_install"; then
    echo "installing apache-airflow==$AIRFLOW_V1_VERSION failed" >&2
    return 1
  fi
  rm -rf "$ROOT/home" "$ROOT/logs" "$V1/home"
  mkdir -p "$ROOT/home" "$ROOT/logs" "$ROOT/plugins"
  start_v3
  if [ "$WITH_V1" = 1 ]; then
    start_v1 || { stop; return 1; }
  fi
  # shellcheck disable=SC1091
  source "$ROOT/env"
  local ready=1
  "$VENV/bin/python" "$REPO/tests/airflow/wait_ready.py" "$EXPECT_DAGS" || ready=0
  if [ "$ready" = 1 ] && [ "$WITH_V1" = 1 ]; then
    "$VENV/bin/python" "$REPO/tests/airflow/wait_ready.py" --v1 "$EXPECT_V1_DAGS" || ready=0
  fi
  if [ "$ready" = 0 ]; then
    echo "--- last lines of the Airflow logs in $ROOT/logs:" >&2
    tail -n 15 "$ROOT"/logs/*.log >&2 || true
    stop
    return 1
  fi
  echo "AIRFLOW_URL=$AIRFLOW_URL${UNIFIER_TEST_AIRFLOW1_URL:+ (Airflow 2: $UNIFIER_TEST_AIRFLOW1_URL)}; source $ROOT/env"
}

start_v3() {
  # The listener plugin is the product file itself, dropped into the plugins folder as a user would.
  ln -sf "$REPO/adapters/airflow/listener.py" "$ROOT/plugins/unifier_listener.py"
  local port hook_port secret hook_token
  port=$(free_port)
  hook_port=$(free_port)
  secret=$(new_secret 32)
  hook_token=$(new_secret 16)
  cat > "$ROOT/env" <<EOF
# written by tests/airflow/server.sh start; source it before the tests
export AIRFLOW_URL=http://127.0.0.1:$port
export UNIFIER_TEST_AIRFLOW_URL=http://127.0.0.1:$port
export UNIFIER_TEST_AIRFLOW_USER=$USER_NAME
export UNIFIER_TEST_AIRFLOW_PASSWORD=$USER_PASSWORD
# the listener plugin inside Airflow posts here; tests serve this port themselves
export UNIFIER_TEST_WEBHOOK_URL=http://127.0.0.1:$hook_port/hooks/airflow-ci
export UNIFIER_TEST_WEBHOOK_TOKEN=$hook_token
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
}

start_v1() {
  mkdir -p "$V1/home"
  local port secret
  port=$(free_port)
  secret=$(new_secret 32)
  cat > "$V1/airflow.env" <<EOF
export AIRFLOW_HOME=$V1/home
export PATH=$V1/venv/bin:\$PATH
export AIRFLOW__CORE__DAGS_FOLDER=$REPO/tests/airflow/dags_v1
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=SequentialExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$V1/home/airflow.db
export AIRFLOW__API__AUTH_BACKENDS=airflow.api.auth.backend.basic_auth
export AIRFLOW__WEBSERVER__WORKERS=1
export AIRFLOW__WEBSERVER__WEB_SERVER_HOST=127.0.0.1
export AIRFLOW__WEBSERVER__WEB_SERVER_PORT=$port
export AIRFLOW__WEBSERVER__SECRET_KEY=$secret
export AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=60
export AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL=10
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=1
EOF
  (
    # shellcheck disable=SC1091
    source "$V1/airflow.env"
    airflow db migrate > "$ROOT/logs/v1-db-migrate.log" 2>&1
    airflow users create -u "$USER_NAME" -p "$USER_PASSWORD" -r Admin -f CI -l User \
      -e ci@example.invalid > "$ROOT/logs/v1-users.log" 2>&1
    setsid bash -c '
      L="$1"
      airflow webserver --hostname 127.0.0.1 --port "$AIRFLOW__WEBSERVER__WEB_SERVER_PORT" > "$L/v1-webserver.log" 2>&1 &
      airflow scheduler > "$L/v1-scheduler.log" 2>&1 &
      wait' _ "$ROOT/logs" < /dev/null > "$ROOT/logs/v1-launcher.log" 2>&1 &
    echo $! > "$V1/pgid"
  ) || { echo "Airflow $AIRFLOW_V1_VERSION set-up failed: see $ROOT/logs/v1-*.log" >&2; return 1; }
  cat >> "$ROOT/env" <<EOF
# Airflow $AIRFLOW_V1_VERSION (REST v1, basic auth, same user) for the adapter's v1 side
export UNIFIER_TEST_AIRFLOW1_URL=http://127.0.0.1:$port
EOF
}

stop_group() {  # stop_group PGID_FILE: SIGTERM the group, SIGKILL after 30 s
  [ -f "$1" ] || return 0
  local g
  g=$(cat "$1")
  kill -TERM -- "-$g" 2>/dev/null || true
  for _ in $(seq 1 120); do
    if ! ps -e -o pgid= | awk -v g="$g" '$1==g{f=1} END{exit !f}'; then
      rm -f "$1"
      return 0
    fi
    sleep 0.25
  done
  kill -KILL -- "-$g" 2>/dev/null || true
  rm -f "$1"
}

stop() {
  stop_group "$ROOT/pgid"
  stop_group "$V1/pgid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
