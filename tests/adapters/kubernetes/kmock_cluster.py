"""A Kubernetes stand-in for the tests: kmock's emulator plus a tiny job controller.

No kube-apiserver runs on the test machine. ``kmock.KubernetesEmulator`` serves the
Kubernetes API over real HTTP to the official client (create/409, read, list, watch,
status patch, delete). What it lacks, and what these tests therefore do NOT claim to
show through it: label selectors (ignored: the adapter filters itself), resourceVersion
(none on objects; a list says "..."), watch timeouts and resume (every watch replays
all objects, then streams live events, never 410). Those behaviours are tested against
recorded API responses in test_recorded_api.py.

Two small additions play the parts of Kubernetes that kmock does not have, and they
talk to the adapter only through the API:

* :class:`Emulator` fills the fields the real API server sets on create (``uid``,
  ``creationTimestamp``) and, as the server does for ``propagationPolicy=Foreground``,
  puts the ``foregroundDeletion`` finalizer on a deleted object so that it stays,
  marked with ``deletionTimestamp``, until its dependents are gone.
* :class:`JobController` is the job controller, kubelet and garbage collector: for every
  new Job it creates a pod (with the job-name labels and an owner reference), marks
  the Job active, then after ``run_seconds`` completes it, or fails it when the owning
  CronJob's name ends in ``-fails``; Jobs of CronJobs named ``slow*`` run until
  deleted. Each pod's log says which environment variables the container got. Writes go
  through the HTTP API (so watches see them); reads peek at the emulator's store.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import kmock
import yaml
from kmock import KubernetesEmulator, Server

JOBS = kmock.resource("batch", "v1", "jobs")
CRONJOBS = kmock.resource("batch", "v1", "cronjobs")
PODS = kmock.resource("", "v1", "pods")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Emulator(KubernetesEmulator):
    async def _handle(self, request: Any) -> Any:
        action = getattr(request, "action", None)
        if request.resource is not None and action == kmock.action.CREATE and isinstance(request.data, dict):
            md = request.data.setdefault("metadata", {})
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", now())
            if request.namespace:
                md.setdefault("namespace", request.namespace)
        if (request.resource is not None and action == kmock.action.DELETE and request.name
                and request.params.get("propagationPolicy") == "Foreground"):
            key = (request.resource, request.namespace, request.name)
            async with self._lock:
                if key in self.objects and not self.objects[key].deleted:
                    finalizers = list(self.objects[key].get("metadata", {}).get("finalizers") or [])
                    if "foregroundDeletion" not in finalizers:
                        self.objects[key].patch({"metadata": {"finalizers": finalizers + ["foregroundDeletion"]}})
        return await super()._handle(request)


class JobController:
    """Plays the job controller, kubelet and garbage collector (see the module doc)."""

    def __init__(self, emulator: Emulator, url: str, run_seconds: float = 0.3):
        self.emulator = emulator
        self.http = httpx.AsyncClient(base_url=url, timeout=10)
        self.run_seconds = run_seconds
        self.logs: dict[tuple[str, str], str] = {}  # (namespace, pod) -> log text
        self.started: dict[tuple[str, str], float] = {}
        self.finished: set[tuple[str, str]] = set()
        self.paused = False  # tests stop the controller to make changes happen "later"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.emulator["get", PODS, kmock.subresource("log")] << self._serve_log
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.http.aclose()

    async def settled(self, names: set[str], within: float = 10) -> None:
        """Wait until the controller has finished every Job named (peeking at the store,
        so that the wait itself puts no load on the API)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while {(j["metadata"]["name"]) for j in self.jobs()
               if (j.get("status") or {}).get("conditions")} < names:
            if loop.time() > deadline:
                raise AssertionError(f"the stand-in controller did not finish {sorted(names)}")
            await asyncio.sleep(0.05)

    def _serve_log(self, request: Any) -> bytes:
        return self.logs.get((request.namespace, request.name), "").encode()

    def jobs(self) -> list[dict[str, Any]]:
        return [obj.raw for (res, _ns, _name), obj in list(self.emulator.objects.items())
                if res == JOBS and not obj.deleted]

    async def _loop(self) -> None:
        while True:
            if not self.paused:
                for job in self.jobs():
                    await self._reconcile(job)
            await asyncio.sleep(0.05)

    async def _patch(self, path: str, body: dict[str, Any]) -> None:
        response = await self.http.patch(
            path, json=body, headers={"Content-Type": "application/merge-patch+json"})
        if response.status_code != 404:  # deleted meanwhile: nothing to do
            response.raise_for_status()

    async def _reconcile(self, job: dict[str, Any]) -> None:
        md = job["metadata"]
        ns, name = md["namespace"], md["name"]
        key = (ns, name)
        path = f"/apis/batch/v1/namespaces/{ns}/jobs/{name}"
        loop = asyncio.get_running_loop()
        if md.get("deletionTimestamp"):
            if "foregroundDeletion" in (md.get("finalizers") or []):
                # the garbage collector: delete the dependents, then release the Job
                pod = f"{name}-pod"
                await self.http.delete(f"/api/v1/namespaces/{ns}/pods/{pod}")
                await self._patch(path, {"metadata": {"finalizers": []}})
            return
        owner = next((r["name"] for r in md.get("ownerReferences") or [] if r.get("kind") == "CronJob"), name)
        if key not in self.started:
            self.started[key] = loop.time()
            await self._create_pod(job)
            await self._patch(f"{path}/status", {"status": {"startTime": now(), "active": 1, "ready": 1}})
            return
        if key in self.finished or owner.startswith("slow"):
            return
        if loop.time() - self.started[key] < self.run_seconds:
            return
        self.finished.add(key)
        stamp = now()
        if owner.endswith("-fails"):
            status = {"active": 0, "ready": 0, "failed": 1, "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit",
                 "lastProbeTime": stamp, "lastTransitionTime": stamp},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit",
                 "lastProbeTime": stamp, "lastTransitionTime": stamp}]}
        else:
            status = {"active": 0, "ready": 0, "succeeded": 1, "completionTime": stamp, "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods",
                 "lastProbeTime": stamp, "lastTransitionTime": stamp},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods",
                 "lastProbeTime": stamp, "lastTransitionTime": stamp}]}
        await self._patch(f"{path}/status", {"status": status})

    async def _create_pod(self, job: dict[str, Any]) -> None:
        md = job["metadata"]
        ns, name = md["namespace"], md["name"]
        pod_spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": f"{name}-pod", "namespace": ns,
                "labels": {"job-name": name, "batch.kubernetes.io/job-name": name,
                           "controller-uid": md.get("uid", "")},
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                     "uid": md.get("uid"), "controller": True}],
            },
            "spec": pod_spec,
        }
        response = await self.http.post(f"/api/v1/namespaces/{ns}/pods", json=pod)
        response.raise_for_status()
        lines = [f"job {name} started"]
        for container in pod_spec.get("containers") or []:
            for env in container.get("env") or []:
                lines.append(f"{container.get('name')}: {env['name']}={env.get('value', '')}")
        self.logs[(ns, f"{name}-pod")] = "\n".join(lines) + "\n"


def cronjob(namespace: str, name: str, schedule: str = "*/5 * * * *", **spec: Any) -> dict[str, Any]:
    """A CronJob manifest as a user would apply it."""
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name, "namespace": namespace, "labels": {"team": "data"}},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"app": name}},
                "spec": {"backoffLimit": 0, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36",
                                    "command": ["sh", "-c", "echo hello"],
                                    "env": [{"name": "greeting", "value": "default"}]}]}}},
            },
            **spec,
        },
    }


def write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "tester"}}],
    }))
    return path


class Cluster:
    """An emulator on a real port, its controller, and a kubeconfig pointing at it."""

    def __init__(self, tmp_path: Path, run_seconds: float = 0.3):
        self.tmp_path = tmp_path
        self.emulator = Emulator()
        self.server = Server(self.emulator)
        self.run_seconds = run_seconds

    async def __aenter__(self) -> Cluster:
        await self.emulator.__aenter__()
        await self.server.__aenter__()
        for plural in ("batch/v1/cronjobs", "batch/v1/jobs", "v1/pods"):
            self.emulator.resources[plural] = {}
        self.url = str(self.server.url).rstrip("/")
        self.kubeconfig = write_kubeconfig(self.tmp_path / "kubeconfig", self.url)
        self.controller = JobController(self.emulator, self.url, self.run_seconds)
        await self.controller.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.controller.stop()
        await self.server.__aexit__(*exc)
        await self.emulator.__aexit__(*exc)

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create an object through the API, as kubectl would."""
        md = manifest["metadata"]
        group = "api/v1" if manifest["apiVersion"] == "v1" else f"apis/{manifest['apiVersion']}"
        plural = manifest["kind"].lower() + "s"
        response = await self.controller.http.post(f"/{group}/namespaces/{md['namespace']}/{plural}",
                                                   json=manifest)
        response.raise_for_status()
        return response.json()

    def requests_to(self, fragment: str) -> list[Any]:
        return [r for r in list(self.emulator) if fragment in str(r.url)]
