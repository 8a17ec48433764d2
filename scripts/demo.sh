#!/usr/bin/env bash
# Sets everything up and runs the demo on the embedded SQLite catalog:
#   part 1: cron and Terraform side by side (apply, sync, trigger, status);
#   part 2: a cross-tool chain kept by the control loop (cron -> Terraform -> cron).
# Everything happens under .demo/ (catalog, spool, Terraform state); nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
W="$PWD/.demo"
rm -rf "$W" && mkdir -p "$W"
cp -r examples/demo "$W/example"
export UNIFIER_HOME="$W/home"
unset UNIFIER_DATABASE_URL
# Offline Terraform: the real terraform binary and null provider from the [dev] extra.
# (Outside the demo, unifier uses your own `terraform` or `tofu`.)
eval "$(python - "$W" <<'PY'
import shlex, sys
from unifier.adapters.terraform.testing import build_null_provider_mirror, bundled_test_binary, write_cli_config
w = sys.argv[1]
rc = write_cli_config(f"{w}/terraformrc", build_null_provider_mirror(f"{w}/tf-mirror"))
print(f"export UNIFIER_TERRAFORM_BINARY={shlex.quote(str(bundled_test_binary()))}")
print(f"export TF_CLI_CONFIG_FILE={shlex.quote(str(rc))}")
PY
)"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
CONFIG="$W/example/unifier.yaml"

echo "== part 1: cron and Terraform in one catalog (UNIFIER_HOME=$UNIFIER_HOME)"
step unifier validate -f "$CONFIG"
step unifier apply -f "$CONFIG"
step unifier sync
step unifier jobs
step unifier trigger cron://hosts/heartbeat --wait
step unifier trigger cron://hosts/flaky --wait || echo "(cron://hosts/flaky exits 3: its run is failed, as it should be)"
step unifier trigger cron://hosts/nightly-report --wait
step unifier trigger terraform://infra/network -p action=apply -p subnets=3 --wait
step unifier trigger terraform://infra/app --wait
step unifier sync
step unifier runs
step unifier status

echo
echo "== part 2: a cross-tool chain kept by the control loop"
step python examples/chain/demo.py --workdir "$W/chain"
echo
echo "Done. Explore with: UNIFIER_HOME=$UNIFIER_HOME .venv/bin/unifier status"
echo
echo "Open the dashboard on the demo's catalog (then http://127.0.0.1:8765/ in a browser; Ctrl-C stops it):"
printf '  \033[1mUNIFIER_HOME=%s .venv/bin/unifier serve\033[0m\n' "$UNIFIER_HOME"
echo "Part 2's chain (open a run of cron://hosts/report to see its why chain) has its own catalog:"
echo "  UNIFIER_HOME=$W/chain/home .venv/bin/unifier serve --listen 127.0.0.1:8766"
