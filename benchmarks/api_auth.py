"""What authentication and scope filtering cost per API request: p50 / p95 of
``GET /api/jobs`` and ``GET /api/status`` over a catalog of N jobs, served open
(loopback, no token), with an unscoped admin token, and with a token scoped to a tenth
of the jobs (filtered in the service layer until the catalog filters in SQL).

    .venv/bin/python benchmarks/api_auth.py [--jobs 2000] [--samples 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from unifier.api import create_app
from unifier.auth.tokens import TokenStore
from unifier.catalog import Catalog
from unifier.testing import build_job


async def measure(app, path: str, headers: dict[str, str], samples: int) -> tuple[float, float, int]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        await client.get(path, headers=headers)  # warm up
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            response = await client.get(path, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
        times.sort()
        return statistics.median(times), times[int(len(times) * 0.95) - 1], len(response.json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Catalog.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        catalog.put_instance("ci", "jenkins", {"config": {}}, "h", "bench")
        catalog.upsert_jobs("ci", [build_job(f"jenkins://ci/team-{i % 10}/job-{i}") for i in range(args.jobs)])
        open_app = create_app(lambda: catalog)
        print(f"{args.jobs} jobs, {args.samples} samples per row (ms)")
        print(f"{'route':<14}{'caller':<26}{'p50':>8}{'p95':>8}{'rows':>7}")
        for path in ("/api/jobs", "/api/status"):
            p50, p95, rows = asyncio.run(measure(open_app, path, {}, args.samples))
            print(f"{path:<14}{'open (no auth configured)':<26}{p50:8.1f}{p95:8.1f}{rows:7}")
        store = TokenStore(catalog)
        _, admin = store.create("bench-admin", "admin", None, None, "bench")
        _, scoped = store.create("bench-team", "viewer", ["jenkins://ci/team-3/*"], None, "bench")
        secured = create_app(lambda: catalog, allow_open=False)
        for path in ("/api/jobs", "/api/status"):
            for caller, secret in (("admin token", admin), ("token scoped to 1/10", scoped)):
                p50, p95, rows = asyncio.run(measure(secured, path, {"Authorization": f"Bearer {secret}"},
                                                     args.samples))
                print(f"{path:<14}{caller:<26}{p50:8.1f}{p95:8.1f}{rows:7}")
        catalog.close()


if __name__ == "__main__":
    main()
