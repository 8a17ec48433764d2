"""Cost of syncing a Jenkins controller: requests (counted at the server) and wall time.

Runs the Jenkins adapter against the fake controller of the tests (a real HTTP server on
127.0.0.1, driven through python-jenkins) with N jobs in nested folders, and prints, per
phase, the requests the controller received, the bytes of the sync answer and the time:

    .venv/bin/python benchmarks/jenkins_sync.py            # 500 and 2000 jobs
    .venv/bin/python benchmarks/jenkins_sync.py 5000

Times are those of a local fake (no network, no Jenkins JVM); the request counts are what
a real controller would see.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "adapters" / "jenkins"))

import requests  # noqa: E402
from fake_jenkins import FakeJenkins  # noqa: E402

from unifier import secrets  # noqa: E402
from unifier.adapters.jenkins.adapter import JenkinsAdapter  # noqa: E402
from unifier.adapters.jenkins.builds import sync_tree  # noqa: E402
from unifier.adapters.jenkins.settings import JenkinsSettings  # noqa: E402


def world(jobs: int) -> tuple[FakeJenkins, list[str]]:
    fake = FakeJenkins()
    names = []
    for i in range(jobs):
        folders = "/".join(f"dept-{i % 9}-lvl{d}" for d in range(i % 5))
        name = f"{folders}/job-{i}" if folders else f"job-{i}"
        fake.add_job(name, timer_spec="H H(0-6) * * *" if i % 4 == 0 else None)
        for _ in range(3):
            fake.add_build(name, ago=600, duration=30)
        names.append(name)
    return fake, names


async def measure(jobs: int) -> None:
    fake, names = world(jobs)
    fake.start()
    os.environ["UNIFIER_BENCH_JENKINS_TOKEN"] = fake.users["unifier"]
    with secrets.resolved_context():
        settings = JenkinsSettings.model_validate(secrets.resolve(
            {"url": fake.base, "username": "unifier", "token": "${env:UNIFIER_BENCH_JENKINS_TOKEN}"}))
    adapter = JenkinsAdapter("bench", settings)

    async def phase(label: str, call):
        before = len(fake.requests)
        start = time.perf_counter()
        result = await call()
        elapsed = time.perf_counter() - start
        print(f"{jobs:>6} jobs  {label:<34} {len(fake.requests) - before:>6} requests  {elapsed * 1000:>8.1f} ms")
        return result

    first = await phase("sync, first (watermark None)", lambda: adapter.changes(None))
    size = len((await asyncio.to_thread(
        requests.get, fake.base + "api/json", params={"tree": sync_tree(6, 5)},
        auth=("unifier", fake.users["unifier"]), timeout=60)).content)
    steady = await phase("sync, nothing changed", lambda: adapter.changes(first.watermark))
    for name in names[:10]:
        fake.add_build(name, ago=1, duration=0.1)
    changed = await phase("sync, 10 jobs ran", lambda: adapter.changes(steady.watermark))
    assert len(changed.runs) == 10
    await phase("discover, first (config.xml each)", adapter.discover)
    await phase("discover, again (cached)", adapter.discover)
    print(f"{jobs:>6} jobs  sync answer size: {size / 1024:.0f} KiB; watermark {len(steady.watermark)} chars")
    adapter.client.close()
    fake.stop()


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [500, 2000]
    for n in sizes:
        asyncio.run(measure(n))


if __name__ == "__main__":
    main()
