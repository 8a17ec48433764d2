"""The Kubernetes adapter: CronJobs are jobs; the batch/v1 Jobs they create are runs.

Sync is list-then-watch, as Kubernetes controllers do it. The first cycle lists Jobs
(per namespace, or once cluster-wide) and stores the list's resourceVersion in the
watermark; each later cycle watches from the stored resourceVersion for
``watch_timeout`` seconds and stores the resourceVersion of the last event it read.
A watch that breaks mid-stream loses nothing: the next cycle resumes after the last
event that was read. A 410 Gone (the version was compacted away) relists. Nothing is
read per job: a cycle costs one request per watched namespace (more after a 410).

A relist and a watch started from an old or empty version both re-send objects that
did not change. The adapter remembers what it last reported for each Job (in memory,
as an informer's cache would) and reports only runs whose state or times changed.
That memory is tied to the watermark it returned: called with any other watermark
(the caller did not store the last one, or this is a new process), it starts afresh
and reports everything the list or watch shows, which the catalog de-duplicates.

Triggering creates a Job from the CronJob's jobTemplate as ``kubectl create job
--from=cronjob/NAME`` does (annotation ``cronjob.kubernetes.io/instantiate: manual``,
the template's labels and annotations, an owner reference to the CronJob). As with
kubectl, a suspended CronJob can still be run by hand: suspend stops its schedule only.
The Job is named after the firing, ``<cronjob name, cut to 50>-<12 hex of sha256(firing
id)>``, so a retried firing gets 409 AlreadyExists and adopts the Job, after checking
that its ``unifier.io/firing-id`` annotation is that firing's.

Parameters become environment variables of every container and init container, each
under the parameter's own name (``greeting: hi`` -> ``greeting=hi``), replacing a
variable of that name the template sets; strings go as they are, booleans as
``true``/``false``, null as empty, other values as JSON. ``UNIFIER_FIRING_ID`` carries
the firing id. A name Kubernetes refuses for env vars refuses the trigger. The
parameters are also kept, as JSON, in the ``unifier.io/parameters`` annotation, which
is where runs read them back from.

Cancelling deletes the Job with ``propagationPolicy`` ``cancel_propagation``: Foreground
(default) keeps it, marked for deletion and reported cancelled, until its pods are gone.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any, ClassVar

from kubernetes.client.exceptions import ApiException

from unifier.adapter import Adapter, Capabilities, ChangeSet
from unifier.adapters.kubernetes import ADAPTER, objects
from unifier.adapters.kubernetes.api import KubeApi, Tally, WatchSession
from unifier.adapters.kubernetes.objects import STATE_MAP, meta
from unifier.adapters.kubernetes.selectors import Selector, parse
from unifier.adapters.kubernetes.settings import KubernetesSettings
from unifier.adapters.timestamps import parse_time
from unifier.errors import NotFound, ToolUnavailable, TriggerRefused, UnifierError
from unifier.model import Health, Job, Run, RunState, utcnow
from unifier.schedule import next_run

ALL = ""  # the watermark's scope key for "every namespace"


def _fingerprint(run: Run) -> tuple[Any, ...]:
    """What makes a run worth reporting again: its state and times (not pod counts)."""
    return (run.job, run.native_state, run.started_at, run.ended_at)


class KubernetesAdapter(Adapter):
    kind = ADAPTER.kind
    settings_model = ADAPTER.settings
    capabilities = Capabilities(cancel=True, logs=True, schedules=True, push=False)
    state_map: ClassVar[dict[str, RunState]] = STATE_MAP

    settings: KubernetesSettings

    def __init__(self, instance: str, settings: KubernetesSettings):
        super().__init__(instance, settings)
        self.api = KubeApi(settings, instance)
        self.selector: Selector | None = parse(settings.job_selector) if settings.job_selector else None
        # What the last changes() reported per Job (namespace, name), valid only for a
        # caller that comes back with the watermark it returned.
        self._reported: dict[tuple[str, str], Run] = {}
        self._reported_for: str | None = None
        self._cycle = 0
        self._token = uuid.uuid4().hex[:8]  # tells this object's watermarks from others'

    # -- helpers ------------------------------------------------------------------------

    @property
    def scopes(self) -> list[str]:
        return list(self.settings.namespaces) or [ALL]

    def _ns(self, scope: str) -> str | None:
        return scope or None

    def _in_scope(self, namespace: str | None) -> bool:
        return not self.settings.namespaces or namespace in self.settings.namespaces

    def _is_run(self, job: dict[str, Any]) -> bool:
        """Is this Job a run unifier shows: one a CronJob owns, or a standalone Job
        the job_selector selects (matched here too: see selectors.py)."""
        if not self._in_scope(meta(job).get("namespace")):
            return False
        if objects.owner_cronjob(job):
            return True
        return self.selector is not None and self.selector.matches(meta(job).get("labels"))

    def _run(self, job: dict[str, Any], deleted: bool = False) -> Run:
        return objects.run_from_job(job, self.job_uri(objects.native_id_of(job)), deleted)

    def _parse(self, native_id: str) -> tuple[str, str, str]:
        try:
            namespace, kind, name = objects.parse_native_id(native_id)
        except ValueError as exc:
            raise NotFound(f"{self.instance}: {exc}") from None
        if not self._in_scope(namespace):
            raise NotFound(f"{self.instance}: namespace {namespace} is not watched by this instance")
        return namespace, kind, name

    async def _call(self, fn: Any, what: str, *args: Any, tally: Tally | None = None,
                    **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.api.call, fn, what, tally or Tally(), *args, **kwargs)

    # -- discovery ----------------------------------------------------------------------

    async def discover(self) -> list[Job]:
        tally = Tally()
        jobs: list[Job] = []
        for scope in self.scopes:
            items, _ = await asyncio.to_thread(self.api.list, "cronjobs", self._ns(scope), tally)
            jobs.extend(self._cronjob_job(item) for item in items
                        if self._in_scope(meta(item).get("namespace")))
            if self.selector is not None:
                items, _ = await asyncio.to_thread(self.api.list, "jobs", self._ns(scope), tally,
                                                   self.settings.job_selector)
                jobs.extend(self._standalone_job(item) for item in items
                            if self._is_run(item) and not objects.owner_cronjob(item))
        return jobs

    def _cronjob_job(self, cronjob: dict[str, Any]) -> Job:
        md, spec = meta(cronjob), cronjob.get("spec") or {}
        status = cronjob.get("status") or {}
        namespace, name = md.get("namespace", ""), md.get("name", "")
        schedule, tz = _split_schedule(spec.get("schedule") or "", spec.get("timeZone"))
        tz = tz or self.settings.controller_timezone
        paused = bool(spec.get("suspend"))
        extra: dict[str, Any] = {
            "namespace": namespace,
            "concurrencyPolicy": spec.get("concurrencyPolicy", "Allow"),
            "lastScheduleTime": status.get("lastScheduleTime"),
            "lastSuccessfulTime": status.get("lastSuccessfulTime"),
            "active": [ref.get("name") for ref in status.get("active") or []],
        }
        upcoming = None
        if not paused and schedule:
            upcoming, note = self._next_run(schedule, tz, cronjob)
            if note:
                extra["schedule_note"] = note
        url = None
        if self.settings.dashboard_url:
            url = self.settings.dashboard_url.format(namespace=namespace, name=name)
        return self.new_job(
            objects.cronjob_id(namespace, name),
            name=name,
            description=(md.get("annotations") or {}).get("description"),
            tags=[f"{k}={v}" for k, v in sorted((md.get("labels") or {}).items())],
            schedule=schedule or None,
            timezone=tz,
            paused=paused,
            url=url,
            next_run_at=upcoming,
            extra={k: v for k, v in extra.items() if v not in (None, [])},
        )

    def _next_run(self, schedule: str, tz: str, cronjob: dict[str, Any]) -> tuple[datetime | None, str | None]:
        """The next firing after status.lastScheduleTime (else the creation time). A
        firing that is already due is one the controller missed or is about to start;
        the forecast then shows the next one after now and says so."""
        status, md = cronjob.get("status") or {}, meta(cronjob)
        now = utcnow()
        base = (parse_time(status.get("lastScheduleTime"))
                or parse_time(md.get("creationTimestamp")) or now)
        try:
            upcoming = next_run(schedule, tz, base)
            if upcoming is not None and upcoming < now:
                missed = upcoming
                upcoming = next_run(schedule, tz, now)
                return upcoming, f"firing due at {missed.isoformat()} has not been seen"
            return upcoming, None
        except (ValueError, KeyError) as exc:
            return None, f"cannot compute next run: {exc}"

    def _standalone_job(self, job: dict[str, Any]) -> Job:
        md = meta(job)
        return self.new_job(
            objects.standalone_id(md.get("namespace", ""), md.get("name", "")),
            name=md.get("name", ""),
            tags=[f"{k}={v}" for k, v in sorted((md.get("labels") or {}).items())],
            extra={"namespace": md.get("namespace"), "standalone": True},
        )

    # -- incremental sync ---------------------------------------------------------------

    async def changes(self, watermark: str | None) -> ChangeSet:
        versions, notes = _parse_watermark(watermark)
        # The memory of what was reported holds only for the watermark it came with.
        reported = dict(self._reported) if watermark and watermark == self._reported_for else {}
        tallies = [Tally() for _ in self.scopes]
        results = await asyncio.gather(*(
            self._sync_scope(scope, versions.get(scope), reported, tally)
            for scope, tally in zip(self.scopes, tallies, strict=True)))
        runs: list[Run] = []
        new_versions: dict[str, str | None] = {}
        for scope, (scope_runs, version, scope_notes) in zip(self.scopes, results, strict=True):
            runs.extend(scope_runs)
            new_versions[scope] = version
            notes.extend(scope_notes)
        # "cycle" makes every watermark unique, so the memory above can never be
        # mistaken as belonging to an older watermark with the same versions.
        self._cycle += 1
        new_watermark = json.dumps({"cycle": f"{self._token}.{self._cycle}",
                                    "resourceVersions": new_versions},
                                   sort_keys=True, separators=(",", ":"))
        self._reported, self._reported_for = reported, new_watermark
        return ChangeSet(runs=runs, watermark=new_watermark,
                         requests=sum(t.count for t in tallies), notes=notes)

    async def _sync_scope(self, scope: str, version: str | None,
                          reported: dict[tuple[str, str], Run], tally: Tally
                          ) -> tuple[list[Run], str | None, list[str]]:
        namespace = self._ns(scope)
        where = namespace or "all namespaces"
        changed: dict[tuple[str, str], Run] = {}
        notes: list[str] = []
        if version is not None:
            session: WatchSession = await asyncio.to_thread(
                self.api.watch, "jobs", namespace, version, self.settings.watch_timeout, tally)
            for kind, obj in session.events:
                if kind == "BOOKMARK":
                    version = meta(obj).get("resourceVersion") or version
                    continue
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self._observe(obj, kind == "DELETED", reported, changed)
                    version = meta(obj).get("resourceVersion") or version
            if session.error and not session.events:
                raise ToolUnavailable(f"watch jobs in {where}: {session.error}", instance=self.instance)
            if session.dropped or session.error:
                notes.append(f"{where}: watch ended early ({session.dropped or session.error}); "
                             "resuming from the last event read")
            if not session.gone:
                return list(changed.values()), version, notes
            notes.append(f"{where}: resourceVersion {version} expired (410 Gone); relisted")
        items, version = await asyncio.to_thread(self.api.list, "jobs", namespace, tally)
        present = set()
        for obj in items:
            present.add((meta(obj).get("namespace", ""), meta(obj).get("name", "")))
            self._observe(obj, False, reported, changed)
        # Jobs remembered in this scope that the list no longer has were deleted unseen.
        for key in [k for k in reported if (not namespace or k[0] == namespace) and k not in present]:
            last = reported.pop(key)
            if not last.state.terminal:
                # Deleted while no watch was open: most likely a cancel, but it may have
                # finished first. Said so in details rather than guessed silently.
                changed[key] = last.model_copy(update={
                    "state": RunState.CANCELLED, "native_state": "Deleted", "ended_at": utcnow(),
                    "details": {**last.details, "note": "deleted unseen; found missing on relist"}})
        return list(changed.values()), version, notes

    def _observe(self, obj: dict[str, Any], deleted: bool,
                 reported: dict[tuple[str, str], Run], changed: dict[tuple[str, str], Run]) -> None:
        if not self._is_run(obj):
            return
        key = (meta(obj).get("namespace", ""), meta(obj).get("name", ""))
        run = self._run(obj, deleted)
        last = reported.get(key)
        if last is None or _fingerprint(last) != _fingerprint(run):
            changed[key] = run
        if deleted:
            reported.pop(key, None)
        else:
            reported[key] = run

    # -- trigger and status -------------------------------------------------------------

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *,
                      fired_at: datetime | None = None) -> Run:
        namespace, kind, name = self._parse(native_id)
        if kind != "cronjob":
            raise TriggerRefused(
                f"{native_id} is a standalone Job, a single run: only CronJobs can be triggered",
                instance=self.instance)
        batch = self.api.batch
        cronjob = await self._call(batch.read_namespaced_cron_job, f"read cronjob {native_id}",
                                   name, namespace)
        job_name = objects.job_name_for_firing(name, firing_id)
        try:
            manifest = objects.job_from_cronjob(cronjob, job_name, params, firing_id)
        except ValueError as exc:
            raise TriggerRefused(f"{native_id}: {exc}", instance=self.instance) from None
        try:
            created = await self._call(batch.create_namespaced_job, f"create job {namespace}/{job_name}",
                                       namespace, manifest, expect=(409, 422))
        except ApiException as exc:
            if exc.status == 422:
                raise TriggerRefused(f"{native_id}: the API server refused job {job_name}: "
                                     f"{_message(exc)}", instance=self.instance) from None
            # 409 AlreadyExists: this firing already created it (a retry), or a name clash.
            created = await self._call(batch.read_namespaced_job, f"read job {namespace}/{job_name}",
                                       job_name, namespace)
            theirs = (meta(created).get("annotations") or {}).get(objects.FIRING_ANNOTATION)
            if theirs != firing_id:
                raise TriggerRefused(
                    f"{native_id}: job {namespace}/{job_name} already exists and was not created "
                    f"by firing {firing_id!r} (its firing id: {theirs!r})", instance=self.instance) from None
        return self._run(created)

    async def _read_run(self, native_id: str, run_id: str) -> dict[str, Any]:
        namespace, kind, name = self._parse(native_id)
        if (kind == "job" and run_id != name) or not objects.JOB_NAME.match(run_id or ""):
            raise NotFound(f"{self.instance}: no run {run_id!r} of {native_id}")
        job = await self._call(self.api.batch.read_namespaced_job, f"read job {namespace}/{run_id}",
                               run_id, namespace)
        if kind == "cronjob" and objects.owner_cronjob(job) != name:
            raise NotFound(f"{self.instance}: job {namespace}/{run_id} is not a run of {native_id}")
        return job

    async def status(self, native_id: str, run_id: str) -> Run:
        return self._run(await self._read_run(native_id, run_id))

    async def cancel(self, native_id: str, run_id: str) -> None:
        job = await self._read_run(native_id, run_id)
        if self._run(job).state.terminal:
            return  # finished: deleting it would only erase its record
        namespace = meta(job).get("namespace")
        await self._call(self.api.batch.delete_namespaced_job, f"delete job {namespace}/{run_id}",
                         run_id, namespace, propagation_policy=self.settings.cancel_propagation)

    async def logs(self, native_id: str, run_id: str) -> str:
        job = await self._read_run(native_id, run_id)
        namespace = meta(job).get("namespace")
        core = self.api.core
        # The server filters by label; the adapter checks ownership itself as well.
        pods, _ = await asyncio.to_thread(self.api.list, "pods", namespace, Tally(),
                                          f"job-name={run_id}")
        pods = sorted((p for p in pods if objects.pod_of_job(p, job)),
                      key=lambda p: (meta(p).get("creationTimestamp") or "", meta(p).get("name")))
        if not pods:
            raise NotFound(f"{self.instance}: run {run_id} of {native_id} has no pods left "
                           "(not started yet, or removed by ttlSecondsAfterFinished)")
        parts = []
        for pod in pods:
            pod_name = meta(pod).get("name")
            containers = [c.get("name") for c in ((pod.get("spec") or {}).get("containers") or [])]
            for container in containers or [None]:
                extra: dict[str, Any] = {"limit_bytes": self.settings.log_limit_bytes}
                if container:
                    extra["container"] = container
                text = await self._call(core.read_namespaced_pod_log, f"log of pod {pod_name}",
                                        pod_name, namespace, raw=True, **extra)
                if len(pods) > 1 or len(containers) > 1:
                    parts.append(f"==> pod/{pod_name} container/{container} <==\n")
                parts.append(text if text.endswith("\n") or not text else text + "\n")
        return "".join(parts)

    async def health(self) -> Health:
        """Can this instance list CronJobs where it looks? (Reachability and RBAC in one
        request; /version would say nothing about permissions.)"""
        scope = self.scopes[0]
        lister = self.api.batch.list_namespaced_cron_job if scope else \
            self.api.batch.list_cron_job_for_all_namespaces
        try:
            await self._call(lister, f"list cronjobs in {scope or 'all namespaces'}",
                             *([scope] if scope else []), limit=1)
        except UnifierError as exc:
            return Health(ok=False, message=str(exc))
        return Health(ok=True, message=f"CronJobs readable in {scope or 'all namespaces'}")

    async def close(self) -> None:
        await asyncio.to_thread(self.api.close)


def _message(exc: ApiException) -> str:
    try:
        return json.loads(exc.body or "{}").get("message") or str(exc.reason)
    except ValueError:
        return str(exc.reason)


def _parse_watermark(watermark: str | None) -> tuple[dict[str, str | None], list[str]]:
    if not watermark:
        return {}, []
    try:
        versions = json.loads(watermark)["resourceVersions"]
        if isinstance(versions, dict):
            return versions, []
    except (ValueError, KeyError, TypeError):
        pass
    return {}, [f"watermark {watermark[:40]!r} is not this adapter's; relisting"]


def _split_schedule(schedule: str, tz: str | None) -> tuple[str, str | None]:
    """Old clusters accepted ``CRON_TZ=Zone`` (or ``TZ=``) in front of the schedule;
    spec.timeZone replaced it."""
    parts = schedule.split(None, 1)
    if parts and (parts[0].startswith("CRON_TZ=") or parts[0].startswith("TZ=")):
        return (parts[1] if len(parts) > 1 else ""), tz or parts[0].split("=", 1)[1]
    return schedule.strip(), tz
