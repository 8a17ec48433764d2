"""The terraform adapter: root-module directories as jobs, runs recorded in a spool.

Jobs
    Each configured root (a directory, or every directory a glob matches, holding
    ``*.tf`` files) is a job named by its basename; roots that share a basename are
    named by their path relative to their common parent (``prod/network``).
Triggering
    ``params["action"]`` picks ``init``, ``plan``, ``apply`` or ``destroy`` (default:
    the instance's ``default_action``); every other parameter becomes ``-var
    NAME=VALUE`` (strings as they are, other values as JSON, which terraform reads by
    the variable's declared type). The run executes in a detached runner process
    (:mod:`unifier.adapters.terraform.runner`) recorded in the shared spool
    (:mod:`unifier.spool`); its run id is derived from the firing id, so a retried
    trigger adopts the first run.
Concurrency
    While unifier runs something on a root, another trigger on it raises
    :class:`~unifier.errors.JobBusy` naming that run. A state lock held outside unifier
    makes the run fail with native state ``locked`` and terraform's diagnostic.
Observed applies
    For local state, each sync compares the state file's ``serial`` and ``lineage``
    with the last ones seen (kept in the watermark). A change that no unifier run
    explains (each run records the state versions it went from and to) becomes a run
    with cause ``external``, native state ``applied-externally``, timed at the state
    file's modification. Remote backends are not observed (see ``health``). The first
    sync only records where each state stands.

Native states and what they mean:

    ============================  ===========  ==========================================
    native state                  normalized   meaning
    ============================  ===========  ==========================================
    starting                      queued       runner spawned, start not yet recorded
    initializing / planning /     running      the runner is in terraform init / the
    applying / destroying                      action
    initialized, planned,         succeeded    the action finished (no-changes: nothing
    applied, destroyed,                        to do)
    no-changes
    applied-externally            succeeded    the state changed outside unifier
    errored                       failed       terraform exited non-zero
    locked                        failed       the state lock (or the root) was held
    lost                          failed       the runner died without recording an end
    cancelled                     cancelled    cancelled through unifier
    ============================  ===========  ==========================================
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from unifier.adapter import Adapter, Capabilities, ChangeSet, run_id_for_firing
from unifier.adapters.terraform import ADAPTER
from unifier.adapters.terraform import state as tfstate
from unifier.adapters.terraform.command import (
    ACTIONS,
    BinaryNotFound,
    resolve_binary,
    terraform_env,
)
from unifier.adapters.terraform.roots import find_roots
from unifier.adapters.terraform.runner import REQUEST_ENV, Request, root_holder
from unifier.adapters.terraform.settings import TerraformSettings
from unifier.adapters.timestamps import parse_time
from unifier.errors import AdapterError, JobBusy, NotFound, ToolUnavailable, TriggerRefused
from unifier.model import Cause, CauseKind, Health, Job, Run, RunState, map_state
from unifier.spool import Runners, Spool, SpoolRun, default_location

EXTERNAL = "applied-externally"
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class TerraformAdapter(Adapter):
    kind = ADAPTER.kind
    settings_model = ADAPTER.settings
    capabilities = Capabilities(trigger=True, cancel=True, logs=True, parameters=True)
    state_map: ClassVar[dict[str, RunState]] = {
        "starting": RunState.QUEUED,
        "initializing": RunState.RUNNING,
        "planning": RunState.RUNNING,
        "applying": RunState.RUNNING,
        "destroying": RunState.RUNNING,
        "initialized": RunState.SUCCEEDED,
        "planned": RunState.SUCCEEDED,
        "applied": RunState.SUCCEEDED,
        "destroyed": RunState.SUCCEEDED,
        "no-changes": RunState.SUCCEEDED,
        EXTERNAL: RunState.SUCCEEDED,
        "errored": RunState.FAILED,
        "locked": RunState.FAILED,
        "lost": RunState.FAILED,
        "cancelled": RunState.CANCELLED,
    }

    settings: TerraformSettings

    def __init__(self, instance: str, settings: TerraformSettings):
        super().__init__(instance, settings)
        self.spool = Spool(settings.spool or default_location("terraform", instance))
        self.runners = Runners()  # the runners trigger() started, reaped as they exit

    # -- roots ------------------------------------------------------------------------

    def _roots(self) -> tuple[dict[str, Path], list[str]]:
        """Native id -> root directory, and the problems found (a configured root that
        does not exist or holds no configuration)."""
        found, problems = find_roots(self.settings.roots)
        unique = list(dict.fromkeys(Path(os.path.abspath(p)) for p in found))
        by_name: dict[str, list[Path]] = {}
        for path in unique:
            by_name.setdefault(path.name, []).append(path)
        roots: dict[str, Path] = {}
        for name, paths in by_name.items():
            if len(paths) == 1:
                roots[name] = paths[0]
                continue
            parent = os.path.commonpath([str(p) for p in paths])
            for path in paths:
                roots[os.path.relpath(path, parent)] = path
        return roots, problems

    def _root(self, native_id: str) -> Path:
        roots, _ = self._roots()
        if native_id not in roots:
            known = ", ".join(sorted(roots)) or "none"
            raise NotFound(f"{self.job_uri(native_id)}: no such terraform root (roots: {known})")
        return roots[native_id]

    def _workspace(self, root: Path) -> str:
        return self.settings.workspace or tfstate.workspace(root, self.settings.env)

    # -- discovery ----------------------------------------------------------------------

    async def discover(self) -> list[Job]:
        roots, _ = self._roots()
        return [self._job(native_id, root) for native_id, root in sorted(roots.items())]

    def _job(self, native_id: str, root: Path) -> Job:
        backend = tfstate.backend_type(root)
        ws = self._workspace(root)
        observed = backend in tfstate.LOCAL_BACKENDS
        resources = tfstate.resource_count(tfstate.state_path(root, ws)) if observed else None
        return self.new_job(
            native_id,
            description=f"Terraform root module {root}",
            tags=["terraform", backend],
            extra={"path": str(root), "backend": backend, "workspace": ws,
                   "resources": resources, "external_applies_observed": observed},
        )

    # -- runs -------------------------------------------------------------------------

    def _run(self, spooled: SpoolRun) -> Run:
        native = spooled.native_state
        details = dict(spooled.details or {})
        if spooled.exit_code is not None:
            details.setdefault("exit_code", spooled.exit_code)
        cause = _cause(spooled.cause, spooled.firing_id)
        log = self.spool.log_path(spooled.run_id)
        return Run(
            job=self.job_uri(spooled.job),
            run_id=spooled.run_id,
            state=map_state(self.state_map, native),
            native_state=native,
            version=spooled.version,
            started_at=parse_time(spooled.started_at),
            ended_at=parse_time(spooled.ended_at) if spooled.ended else None,
            parameters=dict(spooled.params or {}),
            cause=cause,
            log_url=log.as_uri() if log.exists() else None,
            details=details,
        )

    async def status(self, native_id: str, run_id: str) -> Run:
        spooled = self._spooled(native_id, run_id)
        if spooled is None:
            claim = self.spool.read_claim(run_id) if _safe_id(run_id) else None
            if claim is None or claim.get("job") != native_id:
                raise NotFound(f"{self.job_uri(native_id)}: no run {run_id!r}")
            spooled = SpoolRun(run_id, native_id, "starting", 0, firing_id=claim.get("firing_id"))
        return self._run(spooled)

    def _spooled(self, native_id: str, run_id: str) -> SpoolRun | None:
        if not _safe_id(run_id):
            return None
        spooled = self.spool.get(run_id)
        if spooled is None or spooled.job != native_id:
            return None
        return spooled

    # -- trigger, cancel, logs ----------------------------------------------------------

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *,
                      fired_at: datetime | None = None) -> Run:
        root = self._root(native_id)
        params = dict(params)
        action = str(params.get("action") or self.settings.default_action)
        if action not in ACTIONS:
            raise TriggerRefused(
                f"{self.job_uri(native_id)}: action {action!r} is not one of {', '.join(ACTIONS)}",
                instance=self.instance)
        variables = {k: v for k, v in params.items() if k != "action"}
        bad = [name for name in variables if not _VAR_NAME_RE.match(name)]
        if bad:
            raise TriggerRefused(
                f"{self.job_uri(native_id)}: not terraform variable names: {', '.join(map(repr, bad))}",
                instance=self.instance)
        run_id = run_id_for_firing(firing_id, prefix="tf")
        existing = self.spool.get(run_id) or self.spool.read_claim(run_id)
        if existing is None:
            holder = root_holder(self.spool, str(root))
            if holder is not None:
                raise JobBusy(
                    f"{self.job_uri(native_id)} is busy: unifier run {holder} is still running "
                    f"on {root}; wait for it or cancel it", instance=self.instance)
        try:
            binary = resolve_binary(self.settings.binary)
        except BinaryNotFound as exc:
            raise ToolUnavailable(str(exc), instance=self.instance) from None
        request = Request(
            root=str(root), action=action, binary=binary, variables=variables, params=params,
            plugin_dir=self.settings.plugin_dir, workspace=self._workspace(root),
            firing_id=firing_id, cause={"kind": CauseKind.TRIGGER.value, "firing_id": firing_id},
        )
        env = terraform_env(os.environ, self.settings.env, self.settings.workspace)
        env[REQUEST_ENV] = json.dumps(asdict(request))
        argv = [sys.executable, "-m", "unifier.adapters.terraform.runner",
                "--spool", str(self.spool.path), "--run-id", run_id, "--job", native_id]
        try:
            # a Spool object of its own: spawn polls the journal in a worker thread
            # while this adapter's own Spool may serve status() in the event loop
            spooled = await asyncio.to_thread(self.runners.spawn, Spool(self.spool.path), argv, run_id,
                                              native_id, env=env, cwd=str(root))
        except RuntimeError as exc:
            raise AdapterError(f"{self.job_uri(native_id)}: the terraform runner did not start: {exc}",
                               instance=self.instance) from None
        if spooled.job != native_id:
            raise TriggerRefused(f"firing {firing_id} already started run {run_id} of "
                                 f"{spooled.job}, not of {native_id}", instance=self.instance)
        return self._run(spooled)

    async def cancel(self, native_id: str, run_id: str) -> None:
        if self._spooled(native_id, run_id) is None:
            raise NotFound(f"{self.job_uri(native_id)}: no run {run_id!r}")
        self.spool.cancel(run_id)

    async def logs(self, native_id: str, run_id: str) -> str:
        spooled = self._spooled(native_id, run_id)
        if spooled is None:
            raise NotFound(f"{self.job_uri(native_id)}: no run {run_id!r}")
        if spooled.native_state == EXTERNAL:
            d = spooled.details
            return (f"terraform state of {d.get('root')} changed outside unifier: serial "
                    f"{d.get('serial')} (lineage {d.get('lineage')}) written at {spooled.ended_at}\n")
        try:
            return self.spool.log_path(run_id).read_text(errors="replace")
        except FileNotFoundError:
            return spooled.output_tail

    # -- incremental sync -----------------------------------------------------------------

    async def changes(self, watermark: str | None) -> ChangeSet:
        mark = json.loads(watermark) if watermark else {}
        states: dict[str, Any] = dict(mark.get("states") or {})
        open_runs: dict[str, str] = dict(mark.get("open") or {})  # run id -> root path
        # observed applies this adapter reported last time: their records come back
        # from the journal once, and are not reported twice
        reported = set(mark.get("reported") or [])
        read = self.spool.read(mark.get("spool"))
        runs = {r.run_id: r for r in read.runs
                if not (r.run_id in reported and r.native_state == EXTERNAL)}
        notes = list(read.notes)

        window: dict[str, list[SpoolRun]] = {}  # root path -> runs that ended in this window
        for spooled in runs.values():
            run_root = _run_root(spooled)
            if run_root is None:
                continue
            if spooled.ended:
                open_runs.pop(spooled.run_id, None)
                window.setdefault(run_root, []).append(spooled)
            else:
                open_runs[spooled.run_id] = run_root

        roots, problems = self._roots()
        notes += problems
        busy = set(open_runs.values())
        reads = 0
        observed: list[SpoolRun] = []
        for native_id, root in roots.items():
            if str(root) in busy:
                continue  # a unifier run is writing this state: judge it once it ended
            path = tfstate.state_path(root, self._workspace(root))
            key = str(path)
            st = tfstate.stat_state(path)
            last = states.get(key, "unseen")
            if st is not None and isinstance(last, list) and last[2:] == [st.st_mtime_ns, st.st_size]:
                continue  # untouched since last seen: no read
            stamp = tfstate.read_stamp(path) if st is not None else None
            reads += st is not None
            if st is not None and stamp is None:
                continue  # being rewritten: read it next time
            states[key] = [stamp.serial, stamp.lineage, stamp.mtime_ns, stamp.size] if stamp else None
            if last == "unseen" or stamp is None:
                continue  # first sight is a baseline; a deleted state is no apply
            before = tuple(last[:2]) if last else None
            for record in _unexplained(native_id, str(root), before, stamp, window.get(str(root), [])):
                # recorded in the journal so that status() and logs() know the run
                spooled = SpoolRun(record["run_id"], native_id, EXTERNAL, 0)
                spooled.apply(record, self.spool.append(record))
                observed.append(spooled)

        runs.update({r.run_id: r for r in observed})
        new_mark = json.dumps({"spool": read.watermark, "states": states, "open": open_runs,
                               "reported": [r.run_id for r in observed]}, separators=(",", ":"))
        return ChangeSet(runs=[self._run(r) for r in runs.values()], watermark=new_mark,
                         requests=1 + reads, notes=notes)

    # -- health -----------------------------------------------------------------------------

    async def health(self) -> Health:
        roots, problems = self._roots()
        details: dict[str, Any] = {"roots": len(roots), "spool": str(self.spool.path)}
        try:
            binary = resolve_binary(self.settings.binary)
        except BinaryNotFound as exc:
            return Health(ok=False, message=str(exc), details=details)
        details["binary"] = binary
        try:
            proc = await asyncio.create_subprocess_exec(
                binary, "version", "-json", stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=terraform_env(os.environ, self.settings.env))
            out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        except (TimeoutError, OSError) as exc:
            return Health(ok=False, message=f"{binary} does not run: {exc!r}", details=details)
        if proc.returncode != 0:
            return Health(ok=False, message=f"`{binary} version` failed: {err.decode()[-500:]}",
                          details=details)
        try:
            details["version"] = json.loads(out).get("terraform_version")
        except ValueError:
            details["version"] = out.decode(errors="replace").strip().splitlines()[0]
        remote = {name: kind for name, root in roots.items()
                  if (kind := tfstate.backend_type(root)) not in tfstate.LOCAL_BACKENDS}
        if remote:
            details["not_observed"] = remote
            details["note"] = ("roots on remote backends are not watched for applies made "
                               "outside unifier; runs unifier starts are recorded as usual")
        if problems:
            return Health(ok=False, message="; ".join(problems), details=details)
        return Health(ok=True, message=f"{len(roots)} roots, terraform {details['version']}",
                      details=details)


# --------------------------------------------------------------------------- helpers


def _safe_id(run_id: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9._-]+", run_id))


def _cause(raw: Any, firing_id: str | None) -> Cause:
    if isinstance(raw, dict):
        try:
            return Cause.model_validate(raw)
        except ValueError:
            pass
    return Cause(kind=CauseKind.TRIGGER if firing_id else CauseKind.UNKNOWN, firing_id=firing_id)


def _run_root(spooled: SpoolRun) -> str | None:
    for source in (spooled.command, spooled.details):
        if isinstance(source, dict) and source.get("root"):
            return str(source["root"])
    return None


def _as_version(value: Any) -> tuple[int, str] | None:
    if isinstance(value, list) and len(value) == 2:
        return int(value[0]), str(value[1])
    return None


def _unexplained(native_id: str, root: str, before: tuple[int, str] | None,
                 now: tfstate.StateStamp, ended: list[SpoolRun]) -> list[dict[str, Any]]:
    """Spool records for the state versions between ``before`` and ``now`` that no
    unifier run produced. Runs of the window, in the order they ended, each went from
    ``state_before`` to ``state_after``; a version reached between runs, or after the
    last one, was written by someone else."""
    if any(r.native_state == "lost" for r in ended):
        # a runner died mid-way: its terraform may have written state without telling
        return []
    current = before
    found: list[tuple[tuple[int, str], str]] = []
    for run in sorted(ended, key=lambda r: r.version):
        went_from = _as_version(run.details.get("state_before"))
        went_to = _as_version(run.details.get("state_after"))
        if went_from is not None and went_from != current:
            found.append((went_from, run.started_at or run.ended_at or ""))
        if went_to is not None:
            current = went_to
    latest = (now.serial, now.lineage)
    if latest != current:
        found.append((latest, datetime.fromtimestamp(now.mtime, UTC).isoformat()))
    records = []
    for (serial, lineage), when in found:
        records.append({
            "rec": "end", "run_id": f"external-{lineage[:8]}-{serial}", "job": native_id,
            "native_state": EXTERNAL, "started_at": when, "ended_at": when,
            "cause": {"kind": CauseKind.EXTERNAL.value}, "command": {"root": root},
            "details": {"serial": serial, "lineage": lineage, "root": root},
        })
    return records
