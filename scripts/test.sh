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
# nftables, for the zone tests' firewall inside a network namespace (skipped, saying why,
# where it cannot be installed)
if ! command -v nft >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables; } \
    >/tmp/unifier-apt-nftables.log 2>&1 || echo "note: could not install nftables (see /tmp/unifier-apt-nftables.log)" >&2
fi
trap 'bash tests/airflow/server.sh stop >/dev/null 2>&1 || true' EXIT
if [ -f tests/airflow/server.sh ]; then
  bash tests/airflow/server.sh start
  # shellcheck disable=SC1091
  source .airflow-ci/env
fi
.venv/bin/python -m pytest "$@"
