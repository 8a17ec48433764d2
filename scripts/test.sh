#!/usr/bin/env bash
# Sets everything up and runs every test, including those against a real Airflow
# server (started here, always stopped after) and PostgreSQL (skipped, saying why,
# where no server answers on 127.0.0.1:5432). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# ruff and mypy first: a finding fails the run before any test starts
bash scripts/check.sh
# Debian packages the tests drive for real, installed where missing (as root with apt-get;
# elsewhere the tests that need one skip, saying why):
#   cron      the daemon that runs wrapped crontab lines;
#   chromium  the dashboard tests' browser (Playwright drives it; it never downloads one);
#   nftables  the firewall inside the zone tests' network namespaces.
missing=()
command -v cron >/dev/null 2>&1 || missing+=(cron)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} for the tests (log: /tmp/unifier-apt.log)..." >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >/tmp/unifier-apt.log 2>&1 || echo "note: could not install ${missing[*]} (see /tmp/unifier-apt.log)" >&2
fi
trap 'bash tests/airflow/server.sh stop >/dev/null 2>&1 || true' EXIT
if [ -f tests/airflow/server.sh ]; then
  bash tests/airflow/server.sh start
  # shellcheck disable=SC1091
  source .airflow-ci/env
fi
.venv/bin/python -m pytest "$@"
