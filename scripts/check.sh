#!/usr/bin/env bash
# The machine checks: ruff (lint and import order) and mypy (types). Any finding fails.
# mypy must see the package as it is installed, where unifier.catalog is catalog/ and
# unifier.adapters is adapters/ (pyproject's package-dir mapping). It checks a tree of
# links in that shape, build/typecheck/unifier, rebuilt on every run so new files count.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff_status=0; .venv/bin/ruff check . || ruff_status=$?
tree=build/typecheck
rm -rf "$tree" && mkdir -p "$tree/unifier"
for entry in unifier/* unifier/.[!.]*; do
  [ -e "$entry" ] || continue
  ln -s "$PWD/$entry" "$tree/unifier/$(basename "$entry")"
done
ln -s "$PWD/catalog" "$tree/unifier/catalog"
ln -s "$PWD/adapters" "$tree/unifier/adapters"
mypy_status=0
(cd "$tree" && "$OLDPWD/.venv/bin/mypy" --config-file "$OLDPWD/pyproject.toml" \
   --python-executable "$OLDPWD/.venv/bin/python" --cache-dir "$OLDPWD/.mypy_cache" -p unifier) || mypy_status=$?
[ "$ruff_status" = 0 ] && [ "$mypy_status" = 0 ] || { echo "check: ruff or mypy found problems (see above)" >&2; exit 1; }
