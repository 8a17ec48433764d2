"""What a Kubernetes sync cycle costs as the cluster grows: requests and seconds.

Runs the real adapter and the official client over HTTP against kmock's emulator (the
same stand-in as the tests), with N CronJobs that have 3 finished Jobs each, and
prints, per size: discover, the first cycle (a list), a quiet cycle (a watch from the
stored resourceVersion) and a cycle after 10 Jobs changed.

Caveat on seconds: kmock replays every object at the start of every watch (it has no
resourceVersion), so the quiet-cycle time here grows with N; a real API server sends
only what changed after the version. The request counts are what a real cluster sees.

    .venv/bin/python benchmarks/kubernetes_sync.py [SIZES...]   (default: 10 100 1000)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "adapters" / "kubernetes"))

from kmock_cluster import CRONJOBS, JOBS, Cluster, cronjob, now  # noqa: E402

from unifier.adapters.kubernetes.adapter import KubernetesAdapter  # noqa: E402
from unifier.adapters.kubernetes.settings import KubernetesSettings  # noqa: E402


def finished_job(cron: str, i: int) -> dict:
    stamp = now()
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {
        "name": f"{cron}-{29400000 + i}", "namespace": "batch",
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cron, "uid": "u"}]},
        "spec": {}, "status": {"succeeded": 1, "startTime": stamp, "completionTime": stamp, "conditions": [
            {"type": "Complete", "status": "True", "lastTransitionTime": stamp}]}}


async def measure(size: int) -> dict[str, tuple[int, float, int]]:
    async with Cluster(Path(tempfile.mkdtemp()), run_seconds=3600) as cluster:
        cluster.controller.paused = True  # nothing runs unless we say so
        objects = cluster.emulator.objects
        for c in range(size):
            name = f"cron-{c}"
            objects[CRONJOBS, "batch", name] = cronjob("batch", name)
            for i in range(3):
                objects[JOBS, "batch", f"{name}-{29400000 + i}"] = finished_job(name, i)
        adapter = KubernetesAdapter("bench", KubernetesSettings(
            kubeconfig=str(cluster.kubeconfig), watch_timeout=0.5))
        figures = {}
        t = time.perf_counter()
        jobs = await adapter.discover()
        figures["discover"] = (len(cluster.requests_to("/cronjobs")), time.perf_counter() - t, len(jobs))
        t = time.perf_counter()
        first = await adapter.changes(None)
        figures["first cycle (list)"] = (first.requests, time.perf_counter() - t, len(first.runs))
        t = time.perf_counter()
        quiet = await adapter.changes(first.watermark)
        figures["quiet cycle (watch)"] = (quiet.requests, time.perf_counter() - t, len(quiet.runs))
        for c in range(10):  # ten new runs appear between two cycles
            await cluster.apply(finished_job(f"cron-{c}", 99))
        t = time.perf_counter()
        busy = await adapter.changes(quiet.watermark)
        figures["10 changed (watch)"] = (busy.requests, time.perf_counter() - t, len(busy.runs))
        await adapter.close()
        return figures


async def main(sizes: list[int]) -> None:
    print(f"{'cronjobs':>8} {'jobs':>6}  {'step':<22} {'requests':>8} {'seconds':>8} {'items':>6}")
    for size in sizes:
        for step, (requests, seconds, items) in (await measure(size)).items():
            print(f"{size:>8} {size * 3:>6}  {step:<22} {requests:>8} {seconds:>8.3f} {items:>6}")


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [10, 100, 1000]))
