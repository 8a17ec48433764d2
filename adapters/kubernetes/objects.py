"""Reading and writing batch/v1 objects as the API serves them (plain JSON dicts).

Everything here is pure: a Job's state from its conditions, the Job a trigger
creates from a CronJob's template, names, environment variables. The adapter does
the I/O; tests feed these functions recorded API responses.

Native states. A Job has no single state field; :func:`native_state` derives one from
``status.conditions`` (those with ``status: "True"``), ``metadata.deletionTimestamp``
and the pod counts, in this order (the first that holds wins):

    Failed              condition Failed: the job failed (backoff or deadline exceeded)
    Complete            condition Complete: the job succeeded
    FailureTarget       condition FailureTarget (1.31+): failure decided, pods terminating
    SuccessCriteriaMet  condition SuccessCriteriaMet (1.31+): success decided, pods terminating
    Deleted             the Job was deleted before it finished (a watch DELETED event)
    Terminating         deletionTimestamp set before it finished (a cancel in progress)
    Suspended           condition Suspended: spec.suspend is true, no pods run
    Active              status.startTime set, or any pod counted active/succeeded/failed
    Pending             created, the job controller has not started it yet

A finished Job that is deleted later (history limits, ttlSecondsAfterFinished) keeps
its outcome: deletion only cancels what had not finished.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from unifier.adapters.timestamps import parse_time
from unifier.model import Cause, CauseKind, Run, RunState, map_state

# The key under which unifier records what a firing asked for, on the Job it creates.
FIRING_ANNOTATION = "unifier.io/firing-id"
PARAMETERS_ANNOTATION = "unifier.io/parameters"
# kubectl create job --from=cronjob/NAME sets this; so do we (the Job is a manual run).
INSTANTIATE_ANNOTATION = "cronjob.kubernetes.io/instantiate"
FIRING_ENV = "UNIFIER_FIRING_ID"
# Labels the job controller puts on a Job's pods (the second since 1.27).
JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")

STATE_MAP: dict[str, RunState] = {
    "Pending": RunState.QUEUED,
    "Suspended": RunState.QUEUED,
    "Active": RunState.RUNNING,
    "SuccessCriteriaMet": RunState.SUCCEEDED,
    "Complete": RunState.SUCCEEDED,
    "FailureTarget": RunState.FAILED,
    "Failed": RunState.FAILED,
    "Terminating": RunState.CANCELLED,
    "Deleted": RunState.CANCELLED,
}

_FINISHED = ("Failed", "Complete", "FailureTarget", "SuccessCriteriaMet")


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def true_conditions(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    conditions = (job.get("status") or {}).get("conditions") or []
    return {c.get("type"): c for c in conditions if str(c.get("status")) == "True"}


def native_state(job: dict[str, Any], deleted: bool = False) -> tuple[str, dict[str, Any] | None]:
    """The native state string of a Job (see the module docstring) and the condition
    that decided it, if any."""
    conditions = true_conditions(job)
    for kind in _FINISHED:
        if kind in conditions:
            return kind, conditions[kind]
    if deleted:
        return "Deleted", None
    if meta(job).get("deletionTimestamp"):
        return "Terminating", None
    if "Suspended" in conditions:
        return "Suspended", conditions["Suspended"]
    status = job.get("status") or {}
    if status.get("startTime") or any(status.get(k) for k in ("active", "succeeded", "failed")):
        return "Active", None
    return "Pending", None


def resource_version(obj: dict[str, Any]) -> int | None:
    """metadata.resourceVersion as an int where it is one (etcd revisions are)."""
    value = meta(obj).get("resourceVersion")
    return int(value) if isinstance(value, str) and value.isdigit() else None


def owner_cronjob(job: dict[str, Any]) -> str | None:
    """Name of the CronJob that owns this Job, from its ownerReferences."""
    for ref in meta(job).get("ownerReferences") or []:
        if ref.get("kind") == "CronJob" and str(ref.get("apiVersion", "")).startswith("batch/"):
            return ref.get("name")
    return None


# --------------------------------------------------------------------------- native ids


def cronjob_id(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def standalone_id(namespace: str, name: str) -> str:
    return f"{namespace}/job/{name}"


def parse_native_id(native_id: str) -> tuple[str, str, str]:
    """``NS/NAME`` -> (ns, "cronjob", name); ``NS/job/NAME`` -> (ns, "job", name).
    Names of Kubernetes objects contain no slash, so the two cannot be confused."""
    parts = native_id.split("/")
    if len(parts) == 2 and all(parts):
        return parts[0], "cronjob", parts[1]
    if len(parts) == 3 and parts[1] == "job" and parts[0] and parts[2]:
        return parts[0], "job", parts[2]
    raise ValueError(
        f"not a kubernetes job id: {native_id!r} (expected NAMESPACE/CRONJOB or NAMESPACE/job/JOB)"
    )


def native_id_of(job: dict[str, Any]) -> str:
    """The unifier job a Job object is a run of (a CronJob's id, or its own)."""
    namespace = meta(job).get("namespace", "")
    owner = owner_cronjob(job)
    if owner:
        return cronjob_id(namespace, owner)
    return standalone_id(namespace, meta(job).get("name", ""))


# --------------------------------------------------------------------------- runs


def run_from_job(job: dict[str, Any], job_uri: str, deleted: bool = False) -> Run:
    """The normalized Run a Job object shows."""
    md = meta(job)
    annotations = md.get("annotations") or {}
    status = job.get("status") or {}
    native, condition = native_state(job, deleted)
    state = map_state(STATE_MAP, native)
    ended = None
    if state.terminal:
        ended = parse_time(status.get("completionTime")) or parse_time(
            (condition or {}).get("lastTransitionTime")) or parse_time(md.get("deletionTimestamp"))
    try:
        parameters = json.loads(annotations.get(PARAMETERS_ANNOTATION) or "{}")
    except ValueError:
        parameters = {}
    firing = annotations.get(FIRING_ANNOTATION)
    if firing:
        cause = Cause(kind=CauseKind.TRIGGER, actor="unifier", firing_id=firing)
    elif annotations.get(INSTANTIATE_ANNOTATION) == "manual":
        cause = Cause(kind=CauseKind.MANUAL)
    elif owner_cronjob(job):
        cause = Cause(kind=CauseKind.SCHEDULE, actor="cronjob-controller")
    else:
        cause = Cause(kind=CauseKind.EXTERNAL)
    details: dict[str, Any] = {
        "namespace": md.get("namespace"),
        "counts": {k: status[k] for k in ("active", "ready", "succeeded", "failed", "terminating")
                   if status.get(k) is not None},
    }
    if md.get("uid"):
        details["uid"] = md["uid"]
    if condition and (condition.get("reason") or condition.get("message")):
        details["reason"] = condition.get("reason")
        details["message"] = condition.get("message")
    return Run(
        job=job_uri,
        run_id=md.get("name", ""),
        state=state,
        native_state=native,
        version=resource_version(job),
        queued_at=parse_time(md.get("creationTimestamp")),
        started_at=parse_time(status.get("startTime")),
        ended_at=ended,
        parameters=parameters if isinstance(parameters, dict) else {},
        cause=cause,
        details=details,
    )


# --------------------------------------------------------------------------- triggering

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# A Job name anyone may have chosen: a DNS-1123 subdomain (dots allowed).
JOB_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# Kubernetes' rule for env var names (validation.IsEnvVarName).
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
HASH_LENGTH = 12
MAX_NAME = 63  # a Job's name is also its pods' job-name label value: <= 63 characters


def job_name_for_firing(cronjob: str, firing_id: str) -> str:
    """The Job a firing creates: ``<cronjob prefix>-<12 hex of sha256(firing id)>``.

    Deterministic, so a retried firing asks for the same name and gets 409
    AlreadyExists instead of a second Job. A valid DNS-1123 label of at most 63
    characters: the CronJob name is cut to 50 characters (dots become dashes)."""
    digest = hashlib.sha256(firing_id.encode()).hexdigest()[:HASH_LENGTH]
    prefix = cronjob.lower().replace(".", "-")[: MAX_NAME - HASH_LENGTH - 1].strip("-")
    name = f"{prefix}-{digest}" if prefix else f"unifier-{digest}"
    assert DNS_LABEL.match(name) and len(name) <= MAX_NAME, name
    return name


def env_value(value: Any) -> str:
    """How a parameter value is written into an environment variable: strings as they
    are, booleans as true/false, null as the empty string, anything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value)


def parameter_env(params: dict[str, Any], firing_id: str) -> list[dict[str, str]]:
    """The env entries a trigger adds to every container: each parameter under its own
    name (``greeting`` -> ``$greeting``), plus ``UNIFIER_FIRING_ID``. ValueError names a
    parameter that cannot be an environment variable name."""
    env = []
    for name, value in params.items():
        if not _ENV_NAME.match(str(name)):
            raise ValueError(
                f"parameter {name!r} cannot be an environment variable name "
                "(letters, digits, '_', '-', '.'; not starting with a digit)"
            )
        if name == FIRING_ENV:
            raise ValueError(f"parameter {FIRING_ENV} is reserved: unifier sets it to the firing id")
        env.append({"name": str(name), "value": env_value(value)})
    env.append({"name": FIRING_ENV, "value": firing_id})
    return env


def _with_env(container: dict[str, Any], env: list[dict[str, str]]) -> None:
    """Set env entries on a container, replacing same-named ones in place (so a
    parameter overrides the template's default) and appending the others."""
    existing = container.setdefault("env", [])
    index = {entry.get("name"): i for i, entry in enumerate(existing)}
    for entry in env:
        if entry["name"] in index:
            existing[index[entry["name"]]] = dict(entry)
        else:
            existing.append(dict(entry))


def job_from_cronjob(cronjob: dict[str, Any], name: str, params: dict[str, Any],
                     firing_id: str) -> dict[str, Any]:
    """The Job ``kubectl create job NAME --from=cronjob/CRONJOB`` would create, plus
    unifier's firing id and parameters (as annotations, and as env on every container
    and init container)."""
    md = meta(cronjob)
    template = copy.deepcopy((cronjob.get("spec") or {}).get("jobTemplate") or {})
    spec = template.get("spec") or {}
    env = parameter_env(params, firing_id)
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    for key in ("containers", "initContainers"):
        for container in pod_spec.get(key) or []:
            _with_env(container, env)
    annotations = {INSTANTIATE_ANNOTATION: "manual"}
    annotations.update((template.get("metadata") or {}).get("annotations") or {})
    annotations[FIRING_ANNOTATION] = firing_id
    annotations[PARAMETERS_ANNOTATION] = json.dumps(params, sort_keys=True)
    # As kubectl: an owner reference without controller: true, so deleting the CronJob
    # deletes the Job, but the CronJob controller neither counts it as one of its active
    # runs (concurrencyPolicy) nor prunes it with its history.
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": md.get("name")}
    if md.get("uid"):
        owner["uid"] = md["uid"]
    job_meta: dict[str, Any] = {
        "name": name,
        # a namespaced watch only sees objects whose body names the namespace
        "namespace": md.get("namespace"),
        "annotations": annotations,
        "ownerReferences": [owner],
    }
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        job_meta["labels"] = dict(labels)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta, "spec": spec}


def pod_of_job(pod: dict[str, Any], job: dict[str, Any]) -> bool:
    """Is this pod one of the Job's? By owner reference (and uid when both have one), else
    by the job-name labels the job controller sets."""
    job_md = meta(job)
    for ref in meta(pod).get("ownerReferences") or []:
        if ref.get("kind") == "Job" and ref.get("name") == job_md.get("name"):
            return not (ref.get("uid") and job_md.get("uid")) or ref["uid"] == job_md["uid"]
    labels = meta(pod).get("labels") or {}
    return any(labels.get(key) == job_md.get("name") for key in JOB_NAME_LABELS)
