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
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -c 'import unifier.cli, pytest' # fail here, loudly, if the install did not work
  echo "$want" > "$stamp"
fi
