"""Failover on PostgreSQL: the leader's ``kill -9`` -> the standby's first cycle.

    .venv/bin/python benchmarks/failover.py [--trials 10]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A fresh database holds a catalog with one cron instance synced every cycle
(``poll_interval: 0``). Each trial: a standby ``unifier run`` starts and says it stands
by; the leader is killed with SIGKILL; measured from the kill to (1) the standby holding
the lead (the catalog's leader row names it) and (2) its first cycle (the instance's
``last_sync_at`` written after the kill). The standby is the next trial's leader.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine

from unifier.catalog import Catalog
from unifier.leader import current_leader

CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: hosts}
spec:
  adapter: cron
  poll_interval: 0
  config: {crontabs: [./crontab], spool: ./spool}
"""


def wait_for(condition, what: str, seconds: float = 60) -> float:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"timed out: {what}")
        time.sleep(0.01)
    return time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--admin-url", default=os.environ.get(
        "UNIFIER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    name = f"unifier_failover_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    replicas: list[subprocess.Popen] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "crontab").write_text("# unifier: name=x\n0 3 * * * true\n")
            (work / "unifier.yaml").write_text(CONFIG)
            env = {**os.environ, "UNIFIER_HOME": str(work / "home"), "UNIFIER_DATABASE_URL": url}
            unifier = [sys.executable, "-m", "unifier"]
            subprocess.run([*unifier, "apply", "-f", str(work / "unifier.yaml")], env=env, check=True,
                           capture_output=True)
            catalog = Catalog.open(url)

            def start(replica: str) -> subprocess.Popen:
                log = open(work / f"{replica}.log", "w")  # noqa: SIM115 - the child writes it
                proc = subprocess.Popen([*unifier, "run", "--no-listen", "--interval", "0.2",
                                         "--replica-id", replica], env=env, stdout=log, stderr=log)
                replicas.append(proc)
                return proc

            def leader_is(replica: str) -> bool:
                info = current_leader(catalog)
                return info is not None and info.holder == replica

            leader = start("r0")
            wait_for(lambda: leader_is("r0"), "the first replica never led")
            takeovers, first_cycles = [], []
            for trial in range(1, args.trials + 1):
                standby_name = f"r{trial}"
                standby = start(standby_name)
                wait_for(lambda n=standby_name: "stands by" in (work / f"{n}.log").read_text(),
                         "the standby never stood by")
                time.sleep(0.5)
                killed = time.time()
                leader.send_signal(signal.SIGKILL)
                took = wait_for(lambda n=standby_name: leader_is(n), "the standby never took over")

                def synced_after_kill(at: float = killed) -> bool:
                    state = catalog.get_sync_state("hosts")
                    return state.last_sync_at is not None and state.last_sync_at.timestamp() > at

                cycled = wait_for(synced_after_kill, "the new leader never cycled")
                takeovers.append(took - killed)
                first_cycles.append(cycled - killed)
                leader.wait(timeout=10)
                leader = standby
            catalog.close()
    finally:
        for proc in replicas:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    for label, values in (("kill -9 -> standby leads", takeovers), ("kill -9 -> standby's first cycle", first_cycles)):
        print(f"{label:<34} p50 {statistics.median(values) * 1000:6.0f} ms   max {max(values) * 1000:6.0f} ms   "
              f"({len(values)} trials)")


if __name__ == "__main__":
    main()
