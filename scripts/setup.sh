#!/usr/bin/env bash
# Creates .venv and installs unifier (editable) with every extra and the test tools.
# Re-running is cheap: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "unifier needs Python >= 3.11"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.unifier-installed
want=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv (pip install -e '.[dev]')..." >&2
  log=.venv/setup.log
  if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip &&
         .venv/bin/python -m pip install --disable-pip-version-check -e ".[dev]"; } > "$log" 2>&1; then
    tail -40 "$log" >&2
    echo "setup failed; full log in $log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
