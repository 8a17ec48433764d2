"""Readiness check for tests/airflow/server.sh (standard library only).

Ready means: metadatabase, scheduler and dag-processor report healthy, a token can be
had, every expected DAG is parsed, and the execution API has been warmed up (its first
call costs ~4 s and blocks the single api-server worker, which would otherwise land on
the first test).

    python wait_ready.py "dag_a dag_b"      # reads AIRFLOW_URL, UNIFIER_TEST_AIRFLOW_USER/PASSWORD
    python wait_ready.py --v1 "dag_a"       # Airflow 2 at UNIFIER_TEST_AIRFLOW1_URL (basic auth)
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.request

TIMEOUT = 240.0


def call(base: str, path: str, data: dict | None = None, token: str | None = None,
         basic: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if basic:
        headers["Authorization"] = f"Basic {basic}"
    body = json.dumps(data).encode() if data is not None else None
    with urllib.request.urlopen(urllib.request.Request(base + path, data=body, headers=headers), timeout=10) as r:
        return json.load(r)


def dag_ids(base: str, token: str | None = None, basic: str | None = None, api: str = "v2") -> set[str]:
    ids: set[str] = set()
    offset = 0
    while True:  # Airflow caps a page at 100 rows
        page = call(base, f"/api/{api}/dags?limit=100&offset={offset}", token=token, basic=basic)["dags"]
        if not page:
            return ids
        ids |= {d["dag_id"] for d in page}
        offset += len(page)


def ready_v1(expect: set[str]) -> str | None:
    """None when the Airflow 2 server is ready, else why not."""
    base = os.environ["UNIFIER_TEST_AIRFLOW1_URL"]
    pair = f"{os.environ['UNIFIER_TEST_AIRFLOW_USER']}:{os.environ['UNIFIER_TEST_AIRFLOW_PASSWORD']}"
    health = call(base, "/api/v1/health")
    sick = [k for k in ("metadatabase", "scheduler") if (health.get(k) or {}).get("status") != "healthy"]
    if sick:
        return f"not healthy yet: {sick}"
    missing = expect - dag_ids(base, basic=base64.b64encode(pair.encode()).decode(), api="v1")
    return f"DAGs not parsed yet: {sorted(missing)[:5]}" if missing else None


def main() -> int:
    if sys.argv[1:2] == ["--v1"]:
        expect = set(sys.argv[2].split()) if len(sys.argv) > 2 else set()
        started, last = time.monotonic(), "no answer yet"
        while time.monotonic() - started < TIMEOUT:
            try:
                last = ready_v1(expect) or ""
                if not last:
                    print(f"airflow 2 ready in {time.monotonic() - started:.1f}s")
                    return 0
            except Exception as exc:  # noqa: BLE001 -- not up yet: keep waiting
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
        print(f"airflow 2 NOT ready after {TIMEOUT:.0f}s ({last})", file=sys.stderr)
        return 1
    base = os.environ["AIRFLOW_URL"]
    expect = set(sys.argv[1].split()) if len(sys.argv) > 1 else set()
    credentials = {"username": os.environ["UNIFIER_TEST_AIRFLOW_USER"],
                   "password": os.environ["UNIFIER_TEST_AIRFLOW_PASSWORD"]}
    started = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - started < TIMEOUT:
        try:
            health = call(base, "/api/v2/monitor/health")
            sick = [k for k in ("metadatabase", "scheduler", "dag_processor")
                    if (health.get(k) or {}).get("status") != "healthy"]
            if sick:
                last = f"not healthy yet: {sick}"
            else:
                token = call(base, "/auth/token", credentials)["access_token"]
                missing = expect - dag_ids(base, token)
                if missing:
                    last = f"DAGs not parsed yet: {sorted(missing)[:5]}"
                else:
                    urllib.request.urlopen(base + "/execution/health", timeout=30).read()
                    print(f"airflow ready in {time.monotonic() - started:.1f}s at {base}")
                    return 0
        except Exception as exc:  # noqa: BLE001 -- not up yet: keep waiting, remember why
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    print(f"airflow NOT ready after {TIMEOUT:.0f}s ({last})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
