"""Jenkins JSON shapes -> unifier's model: the ``tree=`` queries, builds and queue items as
runs, the job tree walk, and the sync watermark.

Run ids are build numbers as strings (``"42"``). A build that has not left the queue yet
has no number: it is reported as ``queue-N`` (N = the queue item id) until it has one;
``status("queue-N")`` then answers with the build under its number, and the build keeps
``details["queue_id"] = N`` (Jenkins' ``queueId``), which ties the two together.

Native states are Jenkins' build ``result`` values, plus three names for what has no
result yet: ``BUILDING`` (``building: true`` or ``result: null``), ``QUEUED`` (a
``WaitingItem``/``BlockedItem``/``BuildableItem``) and ``CANCELLED`` (a ``LeftItem`` whose
``cancelled`` is true: removed from the queue before it started).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from unifier.model import Cause, CauseKind, RunState

# the fields of a build every query asks for (Jenkins prunes everything else server-side)
BUILD_FIELDS = (
    "number,result,building,timestamp,duration,queueId,"
    "actions[parameters[name,value],causes[_class,userId,shortDescription]]"
)
QUEUE_ITEM_FIELDS = (
    "id,inQueueSince,why,cancelled,task[name,url],executable[number,url],"
    "actions[parameters[name,value],causes[_class,userId,shortDescription]]"
)
JOB_DISCOVERY_FIELDS = (
    "name,url,_class,displayName,description,color,buildable,disabled,lastBuild[number],"
    "property[parameterDefinitions[name,type,description,choices,defaultParameterValue[value]]]"
)

STATE_MAP: dict[str, RunState] = {
    "SUCCESS": RunState.SUCCEEDED,
    "FAILURE": RunState.FAILED,
    "UNSTABLE": RunState.FAILED,  # settings.unstable_is may make it succeeded
    "ABORTED": RunState.CANCELLED,
    "NOT_BUILT": RunState.SKIPPED,
    "BUILDING": RunState.RUNNING,
    "QUEUED": RunState.QUEUED,
    "CANCELLED": RunState.CANCELLED,
}

FIRING_PARAMETER = "UNIFIER_FIRING_ID"
PIPELINE_CLASS = "org.jenkinsci.plugins.workflow.job.WorkflowJob"


def sync_tree(depth: int, builds: int) -> str:
    """``jobs[name,url,_class,builds[...]{0,N},jobs[...]]`` nested ``depth`` folder levels;
    the innermost level lists only child names, to notice folders deeper than that."""
    tree = "jobs[name]"
    for _ in range(depth):
        tree = f"jobs[name,url,_class,builds[{BUILD_FIELDS}]{{0,{builds}}},{tree}]"
    return tree


def discovery_tree(depth: int, builds: int) -> str:
    """What discovery reads: the fields of :func:`sync_tree` plus the configuration fields,
    so the sync that follows a discovery needs no request of its own."""
    tree = "jobs[name]"
    for _ in range(depth):
        tree = f"jobs[{JOB_DISCOVERY_FIELDS},builds[{BUILD_FIELDS}]{{0,{builds}}},{tree}]"
    return tree


@dataclass
class Node:
    """One item of the job tree with its full name."""

    full_name: str
    data: dict[str, Any]

    @property
    def is_job(self) -> bool:
        # jobs have builds; folders, multibranch projects and organizations have jobs
        return "builds" in self.data or "buildable" in self.data or "lastBuild" in self.data

    @property
    def truncated(self) -> bool:
        """A folder whose children were listed by name only (deeper than the tree asked)."""
        children = self.data.get("jobs") or []
        return bool(children) and all(set(child) <= {"_class", "name"} for child in children)


def walk(items: list[dict[str, Any]], prefix: str = "") -> Iterator[Node]:
    for item in items or []:
        name = item.get("name")
        if not isinstance(name, str):
            continue
        full_name = f"{prefix}{name}"
        node = Node(full_name, item)
        yield node
        children = item.get("jobs")
        if children and not node.truncated:
            yield from walk(children, full_name + "/")


# ----------------------------------------------------------------------------- runs


def ms_to_datetime(value: Any) -> datetime | None:
    if not isinstance(value, (int, float)) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def parameters_of(actions: list[Any] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for action in actions or []:
        if isinstance(action, dict):
            for p in action.get("parameters") or []:
                if isinstance(p, dict) and "name" in p:
                    params[p["name"]] = p.get("value")
    return params


def causes_of(actions: list[Any] | None) -> list[dict[str, Any]]:
    return [c for a in actions or [] if isinstance(a, dict) for c in a.get("causes") or [] if isinstance(c, dict)]


def cause_of(actions: list[Any] | None, params: dict[str, Any]) -> Cause:
    causes = causes_of(actions)
    firing = params.get(FIRING_PARAMETER) or None
    if firing:
        user = next((c.get("userId") for c in causes if c.get("userId")), None)
        return Cause(kind=CauseKind.TRIGGER, actor=user, firing_id=str(firing))
    for c in causes:
        kind = str(c.get("_class", ""))
        if kind.endswith("TimerTrigger$TimerTriggerCause"):
            return Cause(kind=CauseKind.SCHEDULE, actor="timer")
        if c.get("userId") is not None or kind.endswith("Cause$UserIdCause"):
            return Cause(kind=CauseKind.MANUAL, actor=c.get("userId"))
    if causes:
        return Cause(kind=CauseKind.EXTERNAL, actor=causes[0].get("shortDescription"))
    return Cause()


def build_native_state(build: dict[str, Any]) -> str:
    result = build.get("result")
    if build.get("building") or result is None:
        return "BUILDING"
    return str(result)


def same_parameters(sent: dict[str, str], seen: dict[str, Any]) -> bool:
    """Every parameter unifier sent has the same value in what Jenkins recorded
    (Jenkins records booleans as JSON booleans, everything else as strings)."""
    return all(name in seen and wire_value(seen[name]) == value for name, value in sent.items())


def wire_value(value: Any) -> str:
    """A parameter value as it travels in a form post."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# ----------------------------------------------------------------------------- watermark


@dataclass
class JobMark:
    last: int  # highest build number seen
    running: list[int]  # builds seen still building

    def dump(self) -> list[Any]:
        return [self.last, self.running] if self.running else [self.last]


def load_watermark(text: str | None) -> dict[str, JobMark] | None:
    """``{"v":1,"j":{"folder/job":[last,[building...]]}}``; ``None`` = first sync."""
    if not text:
        return None
    try:
        data = json.loads(text)
        if data.get("v") != 1:
            raise ValueError("unknown version")
        return {name: JobMark(int(m[0]), [int(n) for n in (m[1] if len(m) > 1 else [])])
                for name, m in data["j"].items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None  # unreadable: start over (re-listing runs is harmless, missing them is not)


def dump_watermark(marks: dict[str, JobMark]) -> str:
    return json.dumps({"v": 1, "j": {name: m.dump() for name, m in sorted(marks.items())}},
                      separators=(",", ":"))
