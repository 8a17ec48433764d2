#!/usr/bin/env bash
# Sets everything up and runs every test, including those against a real Airflow
# server (started here, always stopped after) and PostgreSQL (skipped, saying why,
# where no server answers on 127.0.0.1:5432). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Debian cron daemon, for the test that runs wrapped crontab lines under real cron
# (skipped, saying why, where it cannot be installed).
if ! command -v cron >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cron; } \
    >/tmp/unifier-apt-cron.log 2>&1 || echo "note: could not install cron (see /tmp/unifier-apt-cron.log)" >&2
fi
# Debian's chromium, for the dashboard tests in a real browser (Playwright drives it; it
# never downloads a browser). Skipped, saying why, where it cannot be installed.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the browser tests (log: /tmp/unifier-apt-chromium.log)..." >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
    >/tmp/unifier-apt-chromium.log 2>&1 || echo "note: could not install chromium (see /tmp/unifier-apt-chromium.log)" >&2
fi
trap 'bash tests/airflow/server.sh stop >/dev/null 2>&1 || true' EXIT
if [ -f tests/airflow/server.sh ]; then
  bash tests/airflow/server.sh start
  # shellcheck disable=SC1091
  source .airflow-ci/env
fi
.venv/bin/python -m pytest "$@"
