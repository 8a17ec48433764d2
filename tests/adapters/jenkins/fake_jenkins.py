"""A fake Jenkins controller on a real socket (127.0.0.1), serving Jenkins' own JSON shapes.

No Jenkins can run on the test machines, so the adapter is driven through the real
``python-jenkins`` client against this stand-in. What it reproduces, because the adapter
depends on it:

* ``/api/json`` of the root, folders (``com.cloudbees.hudson.plugins.folder.Folder``),
  multibranch projects (``WorkflowMultiBranchProject``), freestyle and Pipeline jobs and
  builds, with ``_class`` on every object, ``builds`` (newest 100) and ``allBuilds`` (only
  when ``tree=`` asks), ``building``, ``result: null`` while running, ``timestamp`` and
  ``duration`` in ms, ``queueId``, ``ParametersAction`` and ``CauseAction`` (``UserIdCause``
  with ``userId``, ``TimerTriggerCause``);
* ``tree=`` as Stapler's ``NamedPathPruner`` reads it: ``a,b[c,d]``, ``*``, ranges
  ``{M,N}``/``{M,}``/``{,N}``/``{N}`` on lists, ``_class`` always kept; without ``tree=`` a
  depth-0 rendering where nested items show only their summary fields;
* the queue: ``POST buildWithParameters``/``build`` -> 201 + ``Location: .../queue/item/N/``;
  a ``hudson.model.Queue$WaitingItem`` with ``why`` during the job's quiet period, then a
  ``$LeftItem`` with ``executable.number`` (or ``cancelled: true``), forgotten after
  ``left_item_ttl`` seconds; an identical request while one is waiting returns the waiting
  item (Jenkins folds duplicates); ``buildWithParameters`` on a job without parameters
  answers 500 and ``build`` on a parameterized one 400, as Jenkins does; parameters a job
  does not define are dropped silently;
* security: basic auth with API tokens (401 for a bad token), ``/crumbIssuer/api/json`` and
  403 "No valid crumb" on a POST without it; the ``X-Jenkins`` header on every answer;
* ``config.xml`` (XML 1.1 declaration, timer spec under ``<triggers>`` or
  ``PipelineTriggersJobProperty``), ``consoleText``, ``/stop``, ``/queue/cancelItem``.

Builds progress with the clock (``advance()`` moves the fake's clock forward). Every
request is recorded in ``requests`` so tests can count them.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

VERSION = "2.479.3"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
FREESTYLE = "hudson.model.FreeStyleProject"
PIPELINE = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
BUILD_CLASS = {FREESTYLE: "hudson.model.FreeStyleBuild", PIPELINE: "org.jenkinsci.plugins.workflow.job.WorkflowRun"}
PARAM_CLASSES = {
    "string": ("hudson.model.StringParameterDefinition", "hudson.model.StringParameterValue"),
    "boolean": ("hudson.model.BooleanParameterDefinition", "hudson.model.BooleanParameterValue"),
    "choice": ("hudson.model.ChoiceParameterDefinition", "hudson.model.StringParameterValue"),
}
SUMMARY_KEYS = {"_class", "name", "url", "color", "number", "id"}


# --------------------------------------------------------------------------- tree=


@dataclass
class Tree:
    children: dict[str, Tree] = field(default_factory=dict)
    lo: int = 0
    hi: int | None = None


def parse_tree(spec: str) -> Tree:
    """Stapler's tree syntax. Raises ValueError like Jenkins (which answers 400/500)."""
    pos = 0

    def peek() -> str:
        return spec[pos] if pos < len(spec) else ""

    def name() -> str:
        nonlocal pos
        start = pos
        while pos < len(spec) and spec[pos] not in ",[]{}":
            pos += 1
        if start == pos:
            raise ValueError(f"expected name at {pos}")
        return spec[start:pos]

    def number() -> int:
        text = name()
        if not text.isdigit():
            raise ValueError(f"expected number at {pos}")
        return int(text)

    def expect(ch: str) -> None:
        nonlocal pos
        if peek() != ch:
            raise ValueError(f"expected {ch!r} at {pos}")
        pos += 1

    def listing(tree: Tree) -> None:
        nonlocal pos
        while True:
            key = name()
            sub = Tree()
            tree.children[key] = sub
            if peek() == "[":
                pos += 1
                listing(sub)
                expect("]")
            if peek() == "{":
                pos += 1
                if peek() == ",":
                    pos += 1
                    sub.lo, sub.hi = 0, number()
                else:
                    sub.lo = number()
                    if peek() == "}":
                        sub.hi = sub.lo + 1
                    else:
                        expect(",")
                        sub.hi = None if peek() == "}" else number()
                expect("}")
            if peek() != ",":
                return
            pos += 1

    root = Tree()
    listing(root)
    if pos != len(spec):
        raise ValueError(f"unexpected {spec[pos]!r} at {pos}")
    return root


def prune(value: Any, tree: Tree) -> Any:
    if isinstance(value, list):
        return [prune(v, tree) for v in value[tree.lo:tree.hi]]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {"_class": value["_class"]} if "_class" in value else {}
    for key, sub in tree.children.items():
        keys = [k for k in value if k != "_class"] if key == "*" else [key]
        for k in keys:
            if k in value:
                out[k] = prune(value[k], sub)
    return out


def shallow(value: Any) -> Any:
    """Depth 0: nested items (jobs, builds, queue tasks) show only their summary fields."""
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        if key == "allBuilds":
            continue
        if (isinstance(v, list) and v and isinstance(v[0], dict)
                and ("number" in v[0] or "name" in v[0] and "url" in v[0])):
            out[key] = [{k: x[k] for k in x if k in SUMMARY_KEYS} for x in v]
        elif isinstance(v, dict) and ("number" in v or "url" in v) and key not in ("executable",):
            out[key] = {k: v[k] for k in v if k in SUMMARY_KEYS}
        else:
            out[key] = v
    return out


# --------------------------------------------------------------------------- the world


@dataclass
class Param:
    name: str
    type: str = "string"  # string | boolean | choice
    default: Any = ""
    choices: list[str] | None = None
    description: str = ""

    def coerce(self, raw: str) -> Any:
        return raw.lower() == "true" if self.type == "boolean" else raw


@dataclass
class Build:
    job: FakeJob
    number: int
    params: dict[str, Any] | None
    causes: list[dict[str, Any]]
    queue_id: int
    started: float
    duration: float
    outcome: str
    stopped_at: float | None = None

    def building(self, now: float) -> bool:
        return self.stopped_at is None and now < self.started + self.duration

    def result(self, now: float) -> str | None:
        if self.stopped_at is not None:
            return "ABORTED"
        return None if self.building(now) else self.outcome

    def url(self, base: str) -> str:
        return f"{self.job.url(base)}{self.number}/"


@dataclass
class QueueItem:
    id: int
    job: FakeJob
    params: dict[str, Any] | None
    causes: list[dict[str, Any]]
    since: float
    quiet_until: float
    cancelled: bool = False
    build: Build | None = None
    left_at: float | None = None


@dataclass
class FakeJob:
    name: str
    parent: FakeFolder
    cls: str = FREESTYLE
    params: list[Param] = field(default_factory=list)
    outcome: str = "SUCCESS"
    duration: float = 0.2
    quiet_period: float = 0.05
    timer_spec: str | None = None
    disabled: bool = False
    description: str = ""
    builds: dict[int, Build] = field(default_factory=dict)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.parent.full_name}/{self.name}" if self.parent.full_name else self.name

    def url(self, base: str) -> str:
        return self.parent.url(base) + f"job/{quote(self.name, safe='')}/"


@dataclass
class FakeFolder:
    name: str
    parent: FakeFolder | None = None
    cls: str = FOLDER
    items: dict[str, FakeFolder | FakeJob] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        if self.parent is None:
            return ""
        return f"{self.parent.full_name}/{self.name}" if self.parent.full_name else self.name

    def url(self, base: str) -> str:
        if self.parent is None:
            return base
        return self.parent.url(base) + f"job/{quote(self.name, safe='')}/"


class HTTPError(Exception):
    def __init__(self, status: int, body: str = "", headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


class FakeJenkins:
    """The controller. ``users`` maps user id -> API token."""

    def __init__(self, *, users: dict[str, str] | None = None, crumbs: bool = True,
                 left_item_ttl: float = 300.0, version: str = VERSION):
        self.users = {"unifier": "unifier-api-token"} if users is None else users
        self.crumbs = crumbs
        self.crumb = secrets.token_hex(16)
        self.left_item_ttl = left_item_ttl
        self.version = version
        self.root = FakeFolder("", cls="hudson.model.Hudson")
        self.queue: dict[int, QueueItem] = {}
        self.next_queue_id = 1
        self.requests: list[tuple[str, str]] = []
        self.config_forbidden: set[str] = set()  # jobs whose config.xml needs ExtendedRead
        self.offset = 0.0
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self.base = ""

    # -- building the world ------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset += seconds

    def folder(self, path: str, cls: str = FOLDER) -> FakeFolder:
        node = self.root
        parts = [p for p in path.split("/") if p]
        with self.lock:
            for i, part in enumerate(parts):
                child = node.items.get(part)
                if child is None:
                    child = node.items[part] = FakeFolder(part, node, cls if i == len(parts) - 1 else FOLDER)
                if not isinstance(child, FakeFolder):
                    raise ValueError(f"{part} is a job, not a folder")
                node = child
        return node

    def add_job(self, full_name: str, **fields: Any) -> FakeJob:
        parent_path, _, name = full_name.rpartition("/")
        with self.lock:
            parent = self.folder(parent_path) if parent_path else self.root
            job = parent.items[name] = FakeJob(name, parent, **fields)
        return job

    def add_multibranch(self, path: str, branches: list[str], **fields: Any) -> list[FakeJob]:
        self.folder(path, MULTIBRANCH)
        # a branch `feature/x` is the item `feature%2Fx`, as the branch-api plugin names it
        return [self.add_job(f"{path}/{quote(b, safe='')}", cls=PIPELINE, **fields) for b in branches]

    def job(self, full_name: str) -> FakeJob:
        node: FakeFolder | FakeJob = self.root
        for part in full_name.split("/"):
            if not isinstance(node, FakeFolder) or part not in node.items:
                raise KeyError(full_name)
            node = node.items[part]
        if not isinstance(node, FakeJob):
            raise KeyError(full_name)
        return node

    def add_build(self, full_name: str, *, outcome: str | None = None, ago: float = 60.0,
                  duration: float = 1.0, params: dict[str, Any] | None = None,
                  user: str | None = None, timer: bool = False) -> Build:
        """A build in the job's history (started ``ago`` seconds before now)."""
        with self.lock:
            job = self.job(full_name)
            causes = [_timer_cause()] if timer else [_user_cause(user or "alice")]
            qid = self.next_queue_id
            self.next_queue_id += 1
            build = Build(job, job.next_number, params, causes, qid, self.now() - ago, duration,
                          outcome or job.outcome)
            job.builds[build.number] = build
            job.next_number += 1
            return build

    def schedule(self, full_name: str, params: dict[str, Any] | None = None, user: str = "alice") -> QueueItem:
        with self.lock:
            return self._schedule(self.job(full_name), params, [_user_cause(user)])

    def rotate_crumb(self) -> None:
        """As a controller restart does: crumbs issued before stop working."""
        self.crumb = secrets.token_hex(16)

    def count(self, method: str | None = None, contains: str = "") -> int:
        return sum(1 for m, p in self.requests if (method is None or m == method) and contains in p)

    # -- the queue -----------------------------------------------------------------------

    def _schedule(self, job: FakeJob, params: dict[str, Any] | None, causes: list[dict[str, Any]]) -> QueueItem:
        self._tick()
        for item in self.queue.values():
            if item.job is job and item.build is None and not item.cancelled and item.params == params:
                return item  # Queue.schedule2 folds an identical waiting item
        now = self.now()
        item = QueueItem(self.next_queue_id, job, params, causes, now, now + job.quiet_period)
        self.next_queue_id += 1
        self.queue[item.id] = item
        return item

    def _tick(self) -> None:
        now = self.now()
        for item in sorted(self.queue.values(), key=lambda i: i.quiet_until):
            if item.build is None and not item.cancelled and item.quiet_until <= now:
                job = item.job
                build = Build(job, job.next_number, item.params, item.causes, item.id,
                              item.quiet_until, job.duration, job.outcome)
                job.builds[build.number] = build
                job.next_number += 1
                item.build, item.left_at = build, item.quiet_until
        for item_id in [i.id for i in self.queue.values()
                        if i.left_at is not None and now - i.left_at > self.left_item_ttl]:
            del self.queue[item_id]

    # -- rendering -----------------------------------------------------------------------

    def _params_action(self, params: dict[str, Any] | None, job: FakeJob) -> list[dict[str, Any]]:
        if params is None:
            return []
        types = {p.name: p.type for p in job.params}
        return [{"_class": "hudson.model.ParametersAction", "parameters": [
            {"_class": PARAM_CLASSES[types.get(k, "string")][1], "name": k, "value": v}
            for k, v in params.items()]}]

    def render_build(self, build: Build) -> dict[str, Any]:
        now = self.now()
        building = build.building(now)
        end = build.stopped_at if build.stopped_at is not None else build.started + build.duration
        return {
            "_class": BUILD_CLASS[build.job.cls],
            "actions": [*self._params_action(build.params, build.job),
                        {"_class": "hudson.model.CauseAction", "causes": build.causes},
                        {}, {"_class": "org.jenkinsci.plugins.displayurlapi.actions.RunDisplayAction"}],
            "artifacts": [],
            "building": building,
            "description": None,
            "displayName": f"#{build.number}",
            "duration": 0 if building else int((end - build.started) * 1000),
            "estimatedDuration": int(build.job.duration * 1000),
            "executor": {"_class": "hudson.model.OneOffExecutor"} if building else None,
            "fullDisplayName": f"{build.job.full_name.replace('/', ' » ')} #{build.number}",
            "id": str(build.number),
            "keepLog": False,
            "number": build.number,
            "queueId": build.queue_id,
            "result": build.result(now),
            "timestamp": int(build.started * 1000),
            "url": build.url(self.base),
            **({"builtOn": "", "changeSet": {"_class": "hudson.scm.EmptyChangeLogSet", "items": [], "kind": None}}
               if build.job.cls == FREESTYLE else {"inProgress": building, "changeSets": []}),
        }

    def _color(self, job: FakeJob) -> str:
        if job.disabled:
            return "disabled"
        now = self.now()
        done = [b for b in job.builds.values() if not b.building(now)]
        base = {"SUCCESS": "blue", "FAILURE": "red", "UNSTABLE": "yellow", "ABORTED": "aborted",
                "NOT_BUILT": "notbuilt"}.get(max(done, key=lambda b: b.number).result(now) if done else "", "notbuilt")
        return base + ("_anime" if any(b.building(now) for b in job.builds.values()) else "")

    def _param_definitions(self, job: FakeJob) -> list[dict[str, Any]]:
        out = []
        for p in job.params:
            definition, value = PARAM_CLASSES[p.type]
            d = {"_class": definition,
                 "defaultParameterValue": {"_class": value, "name": p.name, "value": p.default},
                 "description": p.description, "name": p.name, "type": definition.rsplit(".", 1)[1]}
            if p.type == "choice":
                d["choices"] = p.choices or []
            out.append(d)
        return out

    def render_job(self, job: FakeJob) -> dict[str, Any]:
        base = self.base
        builds = [self.render_build(b) for b in sorted(job.builds.values(), key=lambda b: -b.number)]
        summary = lambda b: None if b is None else {"_class": BUILD_CLASS[job.cls], "number": b.number,  # noqa: E731
                                                    "url": b.url(base)}
        now = self.now()
        ordered = sorted(job.builds.values(), key=lambda b: b.number)
        completed = [b for b in ordered if not b.building(now)]
        waiting = [i for i in self.queue.values() if i.job is job and i.build is None and not i.cancelled]
        prop = [{"_class": "hudson.model.ParametersDefinitionProperty",
                 "parameterDefinitions": self._param_definitions(job)}] if job.params else []
        data = {
            "_class": job.cls,
            "actions": [*prop, {}, {"_class": "org.jenkinsci.plugins.displayurlapi.actions.JobDisplayAction"}],
            "description": job.description or None,
            "displayName": job.name,
            "displayNameOrNull": None,
            "fullDisplayName": job.full_name.replace("/", " » "),
            "fullName": job.full_name,
            "name": job.name,
            "url": job.url(base),
            "buildable": not job.disabled,
            "builds": builds[:100],
            "allBuilds": builds,
            "color": self._color(job),
            "firstBuild": summary(ordered[0] if ordered else None),
            "healthReport": [],
            "inQueue": bool(waiting),
            "keepDependencies": False,
            "lastBuild": summary(ordered[-1] if ordered else None),
            "lastCompletedBuild": summary(completed[-1] if completed else None),
            "lastFailedBuild": summary(next((b for b in reversed(completed) if b.result(now) == "FAILURE"), None)),
            "lastSuccessfulBuild": summary(next((b for b in reversed(completed) if b.result(now) == "SUCCESS"), None)),
            "nextBuildNumber": job.next_number,
            "property": prop,
            "queueItem": self.render_queue_item(waiting[0]) if waiting else None,
            "concurrentBuild": False,
            "disabled": job.disabled,
        }
        if job.cls == FREESTYLE:
            data.update({"downstreamProjects": [], "labelExpression": None,
                         "scm": {"_class": "hudson.scm.NullSCM"}, "upstreamProjects": []})
        else:
            data["resumeBlocked"] = False
        return data

    def render_folder(self, folder: FakeFolder) -> dict[str, Any]:
        jobs = [self.render_job(i) if isinstance(i, FakeJob) else self.render_folder(i)
                for i in folder.items.values()]
        if folder.parent is None:
            return {"_class": "hudson.model.Hudson", "assignedLabels": [{"name": "built-in"}],
                    "mode": "NORMAL", "nodeDescription": "the Jenkins controller's built-in node",
                    "nodeName": "", "numExecutors": 2, "description": None, "jobs": jobs,
                    "quietingDown": False, "slaveAgentPort": -1, "url": self.base,
                    "useCrumbs": self.crumbs, "useSecurity": True, "views": [
                        {"_class": "hudson.model.AllView", "name": "all", "url": self.base}]}
        return {"_class": folder.cls, "actions": [{}], "description": None,
                "displayName": folder.name, "displayNameOrNull": None,
                "fullDisplayName": folder.full_name.replace("/", " » "), "fullName": folder.full_name,
                "name": folder.name, "url": folder.url(self.base), "healthReport": [], "jobs": jobs,
                "views": [{"_class": "hudson.model.AllView", "name": "All", "url": folder.url(self.base)}]}

    def render_queue_item(self, item: QueueItem) -> dict[str, Any]:
        now = self.now()
        job = item.job
        data: dict[str, Any] = {
            "actions": [*self._params_action(item.params, job),
                        {"_class": "hudson.model.CauseAction", "causes": item.causes}],
            "blocked": False, "buildable": False, "id": item.id, "inQueueSince": int(item.since * 1000),
            "params": "".join(f"\n{k}={v}" for k, v in (item.params or {}).items()),
            "stuck": False,
            "task": {"_class": job.cls, "name": job.name, "url": job.url(self.base), "color": self._color(job)},
            "url": f"queue/item/{item.id}/",
            "why": None,
            "timestamp": int(item.quiet_until * 1000),
        }
        if item.build is not None or item.cancelled:
            data["_class"] = "hudson.model.Queue$LeftItem"
            data["cancelled"] = item.cancelled
            data["executable"] = None if item.build is None else {
                "_class": BUILD_CLASS[job.cls], "number": item.build.number, "url": item.build.url(self.base)}
        else:
            data["_class"] = "hudson.model.Queue$WaitingItem"
            data["why"] = f"In the quiet period. Expires in {max(0.0, item.quiet_until - now):.1f} sec"
        return {k: data[k] for k in sorted(data)}

    def config_xml(self, job: FakeJob) -> str:
        params = "".join(
            f"<{PARAM_CLASSES[p.type][0]}><name>{escape(p.name)}</name>"
            f"<description>{escape(p.description)}</description>"
            + ("<defaultValue>"
               f"{str(p.default).lower() if p.type == 'boolean' else escape(str(p.default))}</defaultValue>"
               if p.type != "choice" else
               "<choices class=\"java.util.Arrays$ArrayList\"><a class=\"string-array\">"
               + "".join(f"<string>{escape(c)}</string>" for c in p.choices or []) + "</a></choices>")
            + f"</{PARAM_CLASSES[p.type][0]}>" for p in job.params)
        params_xml = (f"<hudson.model.ParametersDefinitionProperty><parameterDefinitions>{params}"
                      "</parameterDefinitions></hudson.model.ParametersDefinitionProperty>") if job.params else ""
        timer = (f"<hudson.triggers.TimerTrigger>\n          <spec>{escape(job.timer_spec)}</spec>\n"
                 "        </hudson.triggers.TimerTrigger>") if job.timer_spec else ""
        if job.cls == FREESTYLE:
            return ("<?xml version='1.1' encoding='UTF-8'?>\n<project>\n"
                    f"  <description>{escape(job.description)}</description>\n"
                    "  <keepDependencies>false</keepDependencies>\n"
                    f"  <properties>{params_xml}</properties>\n  <scm class=\"hudson.scm.NullSCM\"/>\n"
                    f"  <canRoam>true</canRoam>\n  <disabled>{str(job.disabled).lower()}</disabled>\n"
                    f"  <triggers>\n        {timer}\n  </triggers>\n"
                    "  <concurrentBuild>false</concurrentBuild>\n  <builders/>\n  <publishers/>\n"
                    "  <buildWrappers/>\n</project>")
        triggers = (f"<org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>\n"
                    f"      <triggers>\n        {timer}\n      </triggers>\n"
                    "    </org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>"
                    ) if timer else ""
        return ("<?xml version='1.1' encoding='UTF-8'?>\n"
                "<flow-definition plugin=\"workflow-job@1436.vfa_244484591f\">\n"
                f"  <description>{escape(job.description)}</description>\n"
                "  <keepDependencies>false</keepDependencies>\n"
                f"  <properties>\n    {params_xml}{triggers}\n  </properties>\n"
                "  <definition class=\"org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition\" "
                "plugin=\"workflow-cps@3969.vdc9d3a_efcc6a_\">\n    <script>echo &apos;hi&apos;</script>\n"
                "    <sandbox>true</sandbox>\n  </definition>\n  <triggers/>\n"
                f"  <disabled>{str(job.disabled).lower()}</disabled>\n</flow-definition>")

    def console(self, build: Build) -> str:
        now = self.now()
        lines = [c["shortDescription"] for c in build.causes]
        lines.append(f"Running as SYSTEM\nBuilding in workspace /var/jenkins_home/workspace/{build.job.full_name}")
        for k, v in (build.params or {}).items():
            lines.append(f"[{build.job.name}] $ /bin/sh -xe /tmp/jenkins.sh  # {k}={v}")
        result = build.result(now)
        if build.stopped_at is not None:
            lines.append("Build was aborted")
        if result is not None:
            lines.append(f"Finished: {result}")
        return "\n".join(lines) + "\n"

    # -- HTTP ----------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append((method, raw_path))
            try:
                user = self._authenticate(headers)
                status, out_headers, payload = self._route(method, raw_path, headers, body, user)
            except HTTPError as exc:
                status, out_headers, payload = exc.status, exc.headers, exc.body
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
            out_headers.setdefault("Content-Type", "application/json;charset=utf-8")
        else:
            data = str(payload).encode()
            out_headers.setdefault("Content-Type", "text/plain;charset=utf-8")
        out_headers["X-Jenkins"] = self.version
        out_headers["X-Jenkins-Session"] = "3ad8c3f2"
        return status, out_headers, data

    def _authenticate(self, headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        if not auth.startswith("Basic "):
            if self.users:
                raise HTTPError(403, "Authentication required", {"X-You-Are-Authenticated-As": "anonymous"})
            return "anonymous"
        user, _, token = base64.b64decode(auth[6:]).decode().partition(":")
        if self.users.get(user) != token:
            raise HTTPError(401, f"Invalid password/token for user: {user}")
        return user

    def _route(self, method: str, raw_path: str, headers: dict[str, str], body: bytes,
               user: str) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(raw_path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        segments = [s for s in parts.path.split("/") if s]
        self._tick()
        if method == "POST" and self.crumbs and headers.get("jenkins-crumb") != self.crumb:
            raise HTTPError(403, "No valid crumb was included in the request")

        # walk job/NAME/job/NAME...
        node: FakeFolder | FakeJob = self.root
        while len(segments) >= 2 and segments[0] == "job":
            name = unquote(segments[1])
            if not isinstance(node, FakeFolder) or name not in node.items:
                raise HTTPError(404, "Not Found")
            node = node.items[name]
            segments = segments[2:]
        rest = "/".join(segments)

        if node is self.root:
            if rest == "crumbIssuer/api/json" and method == "GET":
                if not self.crumbs:
                    raise HTTPError(404, "Not Found")
                return 200, {}, self._json({"_class": "hudson.security.csrf.DefaultCrumbIssuer",
                                             "crumb": self.crumb, "crumbRequestField": "Jenkins-Crumb"}, query)
            if rest == "queue/api/json" and method == "GET":
                items = [self.render_queue_item(i) for i in sorted(self.queue.values(), key=lambda i: i.id)
                         if i.build is None and not i.cancelled]
                return 200, {}, self._json({"_class": "hudson.model.Queue", "discoverableItems": [],
                                             "items": items}, query)
            if len(segments) == 5 and segments[:2] == ["queue", "item"] and segments[3:] == ["api", "json"]:
                item = self.queue.get(int(segments[2])) if segments[2].isdigit() else None
                if item is None:
                    raise HTTPError(404, "Not Found")
                return 200, {}, self._json(self.render_queue_item(item), query)
            if rest == "queue/cancelItem" and method == "POST":
                item = self.queue.get(int(query.get("id", "0") or 0))
                if item is None:
                    raise HTTPError(404, "Not Found")
                if item.build is None:
                    item.cancelled, item.left_at = True, self.now()
                return 204, {}, ""
            if rest == "me/api/json":
                return 200, {}, self._json({"_class": "hudson.model.User", "id": user, "fullName": user}, query)
        if isinstance(node, FakeFolder):
            if rest == "api/json" and method == "GET":
                return 200, {}, self._json(self.render_folder(node), query)
            if rest == "" and method == "GET":
                return 200, {"Content-Type": "text/html"}, "<html>Dashboard [Jenkins]</html>"
            raise HTTPError(404, "Not Found")

        job = node
        if rest == "api/json" and method == "GET":
            return 200, {}, self._json(self.render_job(job), query)
        if rest == "config.xml" and method == "GET":
            if job.full_name in self.config_forbidden:
                raise HTTPError(403, f"{user} is missing the Job/ExtendedRead permission")
            return 200, {"Content-Type": "application/xml"}, self.config_xml(job)
        if rest in ("build", "buildWithParameters") and method == "POST":
            return self._build(job, rest, query, headers, body, user)
        if segments and segments[0].isdigit():
            build = job.builds.get(int(segments[0]))
            if build is None:
                raise HTTPError(404, "Not Found")
            tail = "/".join(segments[1:])
            if tail == "api/json" and method == "GET":
                return 200, {}, self._json(self.render_build(build), query)
            if tail == "consoleText" and method == "GET":
                return 200, {}, self.console(build)
            if tail == "stop" and method == "POST":
                if build.building(self.now()):
                    build.stopped_at = self.now()
                return 302, {"Location": build.url(self.base)}, ""
            if tail == "" and method == "GET":
                return 200, {"Content-Type": "text/html"}, f"<html>#{build.number}</html>"
        raise HTTPError(404, "Not Found")

    def _build(self, job: FakeJob, verb: str, query: dict[str, str], headers: dict[str, str],
               body: bytes, user: str) -> tuple[int, dict[str, str], Any]:
        if job.disabled:
            raise HTTPError(409, f"{job.full_name} is disabled")
        if verb == "buildWithParameters" and not job.params:
            raise HTTPError(500, "java.lang.IllegalStateException: This build is not parameterized!")
        if verb == "build" and job.params:
            raise HTTPError(400, "Nothing is submitted")
        submitted = dict(query)
        if body and "form-urlencoded" in headers.get("content-type", ""):
            submitted.update(parse_qsl(body.decode(), keep_blank_values=True))
        params = None
        if job.params:  # undefined parameters are dropped, defaults fill the rest
            params = {p.name: p.coerce(submitted[p.name]) if p.name in submitted else p.default for p in job.params}
        item = self._schedule(job, params, [_user_cause(user)])
        return 201, {"Location": f"{self.base}queue/item/{item.id}/"}, ""

    def _json(self, data: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        tree = query.get("tree")
        if tree is None:
            return shallow(data)
        try:
            return prune(data, parse_tree(tree))
        except ValueError as exc:
            raise HTTPError(400, f"java.lang.IllegalArgumentException: {exc}") from None

    # -- server --------------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out, data = fake.handle(self.command, self.path, headers, body)
                self.send_response(status)
                for k, v in out.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self.base

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _user_cause(user: str) -> dict[str, Any]:
    return {"_class": "hudson.model.Cause$UserIdCause", "shortDescription": f"Started by user {user}",
            "userId": user, "userName": user}


def _timer_cause() -> dict[str, Any]:
    return {"_class": "hudson.triggers.TimerTrigger$TimerTriggerCause",
            "shortDescription": "Started by timer"}
