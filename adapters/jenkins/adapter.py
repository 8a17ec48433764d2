"""The Jenkins adapter: jobs (through folders and multibranch projects), builds, triggers.

Client library: ``python-jenkins`` (the ``[jenkins]`` extra). It speaks the JSON API
(``/api/json``) and hands back plain dicts, so parameter values arrive as Jenkins sent
them, and it handles basic auth with an API token and the CSRF crumb. Its calls block;
every one runs through ``asyncio.to_thread``. ``api4jenkins`` (async, httpx) would save the
threads, but its object model fetches per-item resources lazily, which works against the
one-request sync below; ``jenkinsapi`` is ruled out (it reads ``/api/python``, rewrites
``True``/``False``/``None`` inside parameter values, and made 38 requests for 2 builds).

Native ids are job full names (``folder/sub/job``; a multibranch branch is
``project/feature%2Fx``, its name as Jenkins encodes it). Run ids are build numbers as
strings; a build still in the queue is ``queue-N`` (see :mod:`.builds`).

Sync (``changes``) costs ONE request per cycle, whatever the number of jobs::

    GET /api/json?tree=jobs[name,url,_class,builds[number,result,building,timestamp,
        duration,queueId,actions[parameters[name,value],causes[_class,userId,...]]]{0,5},
        jobs[...same, nested settings.folder_depth levels...]]

Queue items are not listed: a build appears when it leaves the queue (its ``queueId``
ties it to the ``queue-N`` a trigger may have returned). The watermark is compact JSON
holding, per job, the highest build number seen and the numbers of builds seen still
building. A run is reported when its number is above the mark, or when it was building
and is not any more. Extra requests happen only for what
changed: a job that ran more than ``builds_per_job`` builds between two syncs (one request
for the rest, ``allBuilds{N,M}``), a build seen building that fell out of the window (one
request for it), and a folder deeper than ``folder_depth`` (one request per such folder).

Discovery reads the job tree (one request) and each job's ``config.xml`` for its timer
spec, which the JSON API does not expose, again only when the job changed (the cache key
is explained in :mod:`.jobconfig`: Jenkins offers no config version, so it is a digest of
the configuration the API shows, plus an age limit).

Trigger, idempotently (Jenkins has no idempotency key and silently drops parameters a job
does not define, so a firing id cannot ride along on an arbitrary job):

1. Before POSTing, look for the run an earlier attempt of the same firing started, in the
   queue first and then in the job's builds (in that order: an item leaving the queue
   between the two reads is then seen as a build, never missed):

   * a job that declares a ``UNIFIER_FIRING_ID`` parameter gets the firing id in it, and
     the earlier run is the queue item or build whose ``UNIFIER_FIRING_ID`` equals it;
   * any other job: the oldest queue item or build whose ``UserIdCause.userId`` is
     ``settings.username`` (case-insensitive, as Jenkins' default user-id strategy), whose
     ``ParametersAction`` has the same value for every parameter sent, which entered the
     queue or started no earlier than the firing time (less ``clock_skew``), and which no
     other firing of this process has already claimed. The firing time is ``fired_at``
     (pass the time the firing was recorded in the ledger); without it, the time of the
     first attempt this process saw, so after a restart only the ``UNIFIER_FIRING_ID``
     match protects a job. Use a dedicated Jenkins user for unifier. A build starts only
     after the quiet period, so two firings with identical parameters inside it can match
     the same build after a restart; Jenkins itself folds identical requests waiting in
     the queue into one, so such firings share a build in any case: declare
     ``UNIFIER_FIRING_ID`` on jobs where each firing must get its own build.

2. Otherwise POST ``buildWithParameters`` (plain ``build`` for a job without parameters:
   Jenkins answers 500 to ``buildWithParameters`` there), with a crumb when the controller
   issues them, read the queue item from the ``Location`` header (201) and follow
   ``/queue/item/N/api/json`` until ``executable.number`` appears (``queue_wait`` seconds at
   most; else the run is returned as ``queue-N``). Parameters a job does not define are
   refused up front with :class:`TriggerRefused` rather than dropped.

States (``state_map``, from :data:`.builds.STATE_MAP`): SUCCESS -> succeeded, FAILURE ->
failed, UNSTABLE -> failed (or succeeded with ``unstable_is: succeeded``), ABORTED ->
cancelled, NOT_BUILT -> skipped, BUILDING (``result: null``) -> running, QUEUED -> queued,
CANCELLED (a queue item cancelled before it started) -> cancelled.

Cancel stops a build (``/stop``) or cancels a queue item (``/queue/cancelItem``). Logs are
``consoleText``. Next runs come from the timer spec with Jenkins' ``H`` hashing
(:mod:`.schedule`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from unifier.adapter import Adapter, Capabilities, ChangeSet
from unifier.adapters.jenkins import ADAPTER
from unifier.adapters.jenkins import builds as B
from unifier.adapters.jenkins.adoption import Attempt
from unifier.adapters.jenkins.client import JenkinsClient, job_path
from unifier.adapters.jenkins.jobconfig import CachedConfig, ConfigCache, parameter_definitions
from unifier.adapters.jenkins.schedule import CronSpecError, resolve
from unifier.adapters.jenkins.settings import JenkinsSettings
from unifier.errors import AdapterError, NotFound, TriggerRefused, UnifierError
from unifier.model import Health, Job, Run, RunState, as_utc, map_state, utcnow

# builds read per page when looking for an earlier attempt of a firing
_ADOPT_PAGE = 25
# a discovery's tree serves the changes() that follows it only this soon after
_PREFETCH_FRESH_SECONDS = 10.0
# health() needs no request when the controller answered this recently
_HEALTH_FRESH_SECONDS = 30.0


class JenkinsAdapter(Adapter):
    kind = ADAPTER.kind
    settings_model = ADAPTER.settings
    capabilities = Capabilities(cancel=True, logs=True, schedules=True)
    state_map: ClassVar[dict[str, RunState]] = B.STATE_MAP

    settings: JenkinsSettings

    def __init__(self, instance: str, settings: JenkinsSettings):
        super().__init__(instance, settings)
        if settings.unstable_is == "succeeded":
            # this instance's reading of UNSTABLE shadows the class-wide map
            self.state_map = {**B.STATE_MAP, "UNSTABLE": RunState.SUCCEEDED}  # type: ignore[misc]
        token = settings.token.get_secret_value() if settings.token else None
        self.client = JenkinsClient(instance, settings.url, settings.username, token,
                                    settings.verify, settings.timeout)
        self._configs = ConfigCache(self.client, self.settings.config_max_age)
        # (monotonic time, nodes) of the last discovery's tree, until changes() uses it
        self._prefetched: tuple[float, list[B.Node]] | None = None
        # firing id -> (native id, run id) this process started or adopted
        self._claims: dict[str, tuple[str, str]] = {}
        self._first_attempts: dict[str, datetime] = {}

    # -- plumbing ------------------------------------------------------------------

    async def _get(self, path: str, tree: str | None = None) -> Any:
        data = await asyncio.to_thread(self.client.get_json, path, tree=tree)
        if not isinstance(data, dict):
            raise AdapterError(f"GET {path} answered {type(data).__name__}, not an object",
                               instance=self.instance)
        return data

    async def _walk(self, tree: str) -> list[B.Node]:
        """Every item of the job tree; folders deeper than the tree reaches are read with
        one more request each."""
        nodes: list[B.Node] = []

        async def visit(items: list[dict[str, Any]], prefix: str) -> None:
            for node in B.walk(items, prefix):
                nodes.append(node)
                if node.truncated:
                    deeper = await self._get(job_path(node.full_name) + "api/json", tree)
                    await visit(deeper.get("jobs") or [], node.full_name + "/")

        root = await self._get("api/json", tree)
        await visit(root.get("jobs") or [], "")
        return nodes

    def _build_run(self, full_name: str, build: dict[str, Any], job_url: str | None = None) -> Run:
        native = B.build_native_state(build)
        started = B.ms_to_datetime(build.get("timestamp"))
        ended = None
        if native != "BUILDING" and started is not None:
            ended = started + timedelta(milliseconds=build.get("duration") or 0)
        params = B.parameters_of(build.get("actions"))
        number = build.get("number")
        url = f"{job_url or self.client.url + job_path(full_name)}{number}/"
        return Run(
            job=self.job_uri(full_name), run_id=str(number),
            state=map_state(self.state_map, native), native_state=native,
            started_at=started, ended_at=ended, parameters=params,
            cause=B.cause_of(build.get("actions"), params), log_url=url + "console",
            details={"queue_id": build.get("queueId"), "url": url},
        )

    def _queue_run(self, full_name: str, item: dict[str, Any]) -> Run:
        cancelled = bool(item.get("cancelled"))
        native = "CANCELLED" if cancelled else "QUEUED"
        params = B.parameters_of(item.get("actions"))
        queued = B.ms_to_datetime(item.get("inQueueSince"))
        return Run(
            job=self.job_uri(full_name), run_id=f"queue-{item.get('id')}",
            state=map_state(self.state_map, native), native_state=native,
            queued_at=queued, ended_at=utcnow() if cancelled else None, parameters=params,
            cause=B.cause_of(item.get("actions"), params),
            details={"queue_id": item.get("id"), "why": item.get("why")},
        )

    # -- discovery -----------------------------------------------------------------

    def remember(self, jobs: Sequence[Job]) -> None:
        self._configs.remember(jobs)

    async def discover(self) -> list[Job]:
        # one tree for both discovery and the sync that follows it (see _prefetched)
        tree = B.discovery_tree(self.settings.folder_depth, self.settings.builds_per_job)
        walked = await self._walk(tree)
        self._prefetched = (time.monotonic(), walked)
        nodes = [n for n in walked if n.is_job]
        configs = await self._configs.read_all(nodes)
        return [self._job(node, cfg) for node, cfg in zip(nodes, configs, strict=True)]

    def _job(self, node: B.Node, cfg: CachedConfig) -> Job:
        data = node.data
        definitions = parameter_definitions(data)
        extra: dict[str, Any] = {
            "class": data.get("_class"),
            "parameters": definitions,
            "firing_parameter": any(d["name"] == B.FIRING_PARAMETER for d in definitions),
            **cfg.as_extra(),
        }
        schedule = next_run = None
        zone = None
        if cfg.spec:
            try:
                spec = resolve(cfg.spec, node.full_name, self.settings.timezone)
            except CronSpecError as exc:
                extra["timer_spec_error"] = str(exc)
            else:
                extra["cron_lines"] = list(spec.lines)
                if spec.lines:
                    schedule, zone = spec.lines[0], spec.timezone
                    next_run = spec.next_runs(utcnow())[0]
        paused = data.get("color") == "disabled" or data.get("disabled") is True or data.get("buildable") is False
        return self.new_job(
            node.full_name, name=node.full_name, description=data.get("description") or None,
            schedule=schedule, timezone=zone, paused=paused, url=data.get("url"),
            next_run_at=next_run, extra=extra,
        )

    # -- sync ----------------------------------------------------------------------

    async def changes(self, watermark: str | None) -> ChangeSet:
        before = self.client.requests
        marks = B.load_watermark(watermark)
        window = self.settings.builds_per_job
        nodes = self._take_prefetched()
        if nodes is None:
            nodes = await self._walk(B.sync_tree(self.settings.folder_depth, window))
        runs: list[Run] = []
        new_marks: dict[str, B.JobMark] = {}
        for node in nodes:
            if "builds" not in node.data:
                continue
            job_runs, new_marks[node.full_name] = await self._job_changes(
                node, None if marks is None else marks.get(node.full_name), window)
            runs.extend(job_runs)
        return ChangeSet(runs=runs, watermark=B.dump_watermark(new_marks),
                         requests=self.client.requests - before)

    def _take_prefetched(self) -> list[B.Node] | None:
        """The tree a discovery just read (it carries the builds window too), used once:
        a sync cycle that discovers then reads changes makes one request, not two."""
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is None or time.monotonic() - prefetched[0] > _PREFETCH_FRESH_SECONDS:
            return None
        return prefetched[1]

    async def _job_changes(self, node: B.Node, mark: B.JobMark | None,
                           window: int) -> tuple[list[Run], B.JobMark]:
        name, url = node.full_name, node.data.get("url")
        builds = sorted((b for b in node.data.get("builds") or []
                         if isinstance(b, dict) and isinstance(b.get("number"), int)),
                        key=lambda b: b["number"], reverse=True)
        newest = builds[0]["number"] if builds else 0
        if mark is None or newest < mark.last:  # first sight, or the job was recreated
            report = builds
            last = newest
            seen_numbers = {b["number"] for b in builds}
            still_running: list[int] = []
        else:
            last = max(mark.last, newest)
            report = [b for b in builds if b["number"] > mark.last
                      or (b["number"] in mark.running and B.build_native_state(b) != "BUILDING")]
            seen_numbers = {b["number"] for b in builds}
            lowest = builds[-1]["number"] if builds else mark.last + 1
            if len(builds) >= window and lowest > mark.last + 1:
                # more builds than the window since the last sync: read the rest, once
                first, stop = len(builds), len(builds) + (lowest - mark.last - 1)
                rest = await self._get(job_path(name) + "api/json",
                                       f"allBuilds[{B.BUILD_FIELDS}]{{{first},{stop}}}")
                for b in rest.get("allBuilds") or []:
                    if isinstance(b, dict) and isinstance(b.get("number"), int) and b["number"] > mark.last:
                        report.append(b)
                        seen_numbers.add(b["number"])
            still_running = []
            for number in mark.running:
                if number in seen_numbers:
                    continue
                try:  # seen building, now out of the window: read it alone
                    build = await self._get(job_path(name) + f"{number}/api/json", B.BUILD_FIELDS)
                except NotFound:
                    continue  # deleted
                if B.build_native_state(build) == "BUILDING":
                    still_running.append(number)
                else:
                    report.append(build)
        running = sorted({b["number"] for b in report if B.build_native_state(b) == "BUILDING"}
                         | {b["number"] for b in builds if B.build_native_state(b) == "BUILDING"}
                         | set(still_running))
        return [self._build_run(name, b, url) for b in report], B.JobMark(last, running)

    # -- trigger -------------------------------------------------------------------

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *,
                      fired_at: datetime | None = None) -> Run:
        """See the module docstring. ``fired_at``: when the firing was recorded (from the
        ledger); it bounds which earlier builds may be adopted for this firing."""
        claimed = self._claims.get(firing_id)
        if claimed:
            run = await self.status(*claimed)
            self._claims[firing_id] = (claimed[0], run.run_id)
            return run
        since = as_utc(fired_at) or self._first_attempts.setdefault(firing_id, utcnow())
        since -= timedelta(seconds=self.settings.clock_skew)

        # the queue before the builds: an item that leaves the queue in between is a build by then
        queue = await self._get("queue/api/json", f"items[{B.QUEUE_ITEM_FIELDS}]")
        job = await self._get(
            job_path(native_id) + "api/json",
            f"name,url,_class,buildable,property[parameterDefinitions[name,type]],"
            f"builds[{B.BUILD_FIELDS}]{{0,{_ADOPT_PAGE}}}")
        sent = self._parameters_to_send(native_id, job, params, firing_id)
        earlier = await self._earlier_attempt(native_id, job, queue, sent, firing_id, since)
        if earlier is not None:
            self._claims[firing_id] = (native_id, earlier.run_id)
            self._first_attempts.pop(firing_id, None)
            return earlier

        definitions = parameter_definitions(job)
        if job.get("buildable") is False:
            raise TriggerRefused(f"job {native_id!r} is disabled", instance=self.instance)
        path = job_path(native_id) + ("buildWithParameters" if definitions else "build")
        response = await asyncio.to_thread(self.client.request, "POST", path, params=sent or None)
        location = response.headers.get("Location", "")
        match = re.search(r"/queue/item/(\d+)/?$", location)
        if not match:
            raise AdapterError(f"POST {path} answered {response.status_code} without a queue item "
                               f"in Location (got {location!r})", instance=self.instance)
        queue_id = int(match[1])
        self._claims[firing_id] = (native_id, f"queue-{queue_id}")
        self._first_attempts.pop(firing_id, None)
        run = await self._follow_queue(native_id, queue_id)
        self._claims[firing_id] = (native_id, run.run_id)
        return run

    def _parameters_to_send(self, native_id: str, job: dict[str, Any], params: dict[str, Any],
                            firing_id: str) -> dict[str, str]:
        names = {d["name"] for d in parameter_definitions(job)}
        if B.FIRING_PARAMETER in params:
            raise TriggerRefused(f"{B.FIRING_PARAMETER} is set by unifier itself; remove it from the "
                                 "trigger's parameters", instance=self.instance)
        unknown = sorted(set(params) - names)
        if unknown:
            defined = ", ".join(sorted(names)) or "no parameters"
            raise TriggerRefused(
                f"job {native_id!r} does not define parameter(s) {', '.join(unknown)} (it defines "
                f"{defined}); Jenkins would silently drop them", instance=self.instance)
        sent = {name: B.wire_value(value) for name, value in params.items()}
        if B.FIRING_PARAMETER in names:
            sent[B.FIRING_PARAMETER] = firing_id
        return sent

    async def _earlier_attempt(self, native_id: str, job: dict[str, Any], queue: dict[str, Any],
                               sent: dict[str, str], firing_id: str, since: datetime) -> Run | None:
        """The run an earlier attempt of this firing started (see :mod:`.adoption`); builds
        are read back page by page while they are newer than the firing."""
        others = {run_id for fid, (nid, run_id) in self._claims.items() if nid == native_id and fid != firing_id}
        match = Attempt(native_id, sent, firing_id, since, self.settings.username, others)

        candidates: list[dict[str, Any]] = []
        page = [b for b in job.get("builds") or [] if isinstance(b, dict)]
        offset = len(page)
        while True:
            candidates.extend(page)
            recent = [b for b in page if (B.ms_to_datetime(b.get("timestamp")) or since) >= since]
            if match.by_firing and any(match.build(b) for b in page):
                break
            if len(page) < _ADOPT_PAGE or len(recent) < len(page):
                break
            more = await self._get(job_path(native_id) + "api/json",
                                   f"allBuilds[{B.BUILD_FIELDS}]{{{offset},{offset + _ADOPT_PAGE}}}")
            page = [b for b in more.get("allBuilds") or [] if isinstance(b, dict)]
            offset += len(page)
        found = match.earliest(candidates, queue.get("items") or [])
        if found is None:
            return None
        kind, data = found
        if kind == "build":
            return self._build_run(native_id, data, job.get("url"))
        return self._queue_run(native_id, data)

    async def _follow_queue(self, native_id: str, queue_id: int) -> Run:
        deadline = time.monotonic() + self.settings.queue_wait
        pause = 0.05
        while True:
            item = await self._get(f"queue/item/{queue_id}/api/json", B.QUEUE_ITEM_FIELDS)
            number = (item.get("executable") or {}).get("number")
            if isinstance(number, int):
                return await self.status(native_id, str(number))
            if item.get("cancelled") or time.monotonic() >= deadline:
                return self._queue_run(native_id, item)
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)

    # -- one run -------------------------------------------------------------------

    async def status(self, native_id: str, run_id: str) -> Run:
        if run_id.isdigit():
            try:
                build = await self._get(job_path(native_id) + f"{run_id}/api/json", B.BUILD_FIELDS)
            except NotFound:
                raise NotFound(f"{self.instance}: job {native_id!r} has no build {run_id}") from None
            return self._build_run(native_id, build)
        queue_id = _queue_id(run_id)
        try:
            item = await self._get(f"queue/item/{queue_id}/api/json", B.QUEUE_ITEM_FIELDS)
        except NotFound:
            # Jenkins forgets a queue item a few minutes after it left: find its build
            build = await self._build_by_queue_id(native_id, queue_id)
            if build is None:
                raise NotFound(f"{self.instance}: no queue item {queue_id} and no build of "
                               f"{native_id!r} from it") from None
            return self._build_run(native_id, build)
        number = (item.get("executable") or {}).get("number")
        if isinstance(number, int):
            return await self.status(native_id, str(number))
        return self._queue_run(native_id, item)

    async def _build_by_queue_id(self, native_id: str, queue_id: int) -> dict[str, Any] | None:
        data = await self._get(job_path(native_id) + "api/json", f"builds[{B.BUILD_FIELDS}]{{0,50}}")
        return next((b for b in data.get("builds") or [] if b.get("queueId") == queue_id), None)

    async def cancel(self, native_id: str, run_id: str) -> None:
        if not run_id.isdigit():
            queue_id = _queue_id(run_id)
            run = await self.status(native_id, run_id)
            if run.run_id == run_id:  # still in the queue
                try:
                    await asyncio.to_thread(self.client.request, "POST", "queue/cancelItem",
                                            params={"id": queue_id})
                except NotFound:
                    pass  # older controllers answer 404 after cancelling (JENKINS-21311)
                run = await self.status(native_id, run_id)
                if run.run_id == run_id:
                    return
            run_id = run.run_id  # it started meanwhile: stop the build
        run = await self.status(native_id, run_id)
        if not run.state.terminal:
            await asyncio.to_thread(self.client.request, "POST", job_path(native_id) + f"{run_id}/stop")

    async def logs(self, native_id: str, run_id: str) -> str:
        if not run_id.isdigit():
            run = await self.status(native_id, run_id)
            if not run.run_id.isdigit():
                return ""  # still queued: nothing has run yet
            run_id = run.run_id
        try:
            return await asyncio.to_thread(self.client.get_text, job_path(native_id) + f"{run_id}/consoleText")
        except NotFound:
            raise NotFound(f"{self.instance}: job {native_id!r} has no build {run_id}") from None

    async def health(self) -> Health:
        # a sync that just succeeded has heard the controller: no request to ask again
        version = self.client.version_heard_within(_HEALTH_FRESH_SECONDS)
        if version:
            return Health(ok=True, message=f"Jenkins {version}", details={"version": version})
        try:
            version = await asyncio.to_thread(self.client.version)
        except UnifierError as exc:
            return Health(ok=False, message=str(exc))
        if not version:
            return Health(ok=False, message=f"{self.settings.url} answered without an X-Jenkins "
                          "header: not a Jenkins controller?")
        return Health(ok=True, message=f"Jenkins {version}", details={"version": version})

    async def close(self) -> None:
        self.client.close()


def _queue_id(run_id: str) -> int:
    match = re.fullmatch(r"queue-(\d+)", run_id)
    if not match:
        raise NotFound(f"{run_id!r} is not a Jenkins run id (a build number, or queue-N for a "
                       "build still in the queue)")
    return int(match[1])


__all__ = ["JenkinsAdapter"]
