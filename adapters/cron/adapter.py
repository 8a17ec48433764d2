"""The cron adapter: crontab entries are jobs; runs come from the spool ``unifier exec`` writes.

Jobs are read from the configured crontab files (read-only) on every ``discover``;
runs are read incrementally from the spool (:mod:`unifier.spool`): a sync reads only
the journal bytes appended since its watermark and re-checks only the runs still open.
Cron itself keeps no record of runs, so a scheduled run is seen only when its line is
wrapped (``unifier cron wrap``); a run triggered through unifier always is.

Triggering runs the entry's command now, as cron would: a detached runner process
(``python -m unifier.adapters.cron.wrapper``), ``$SHELL -c`` with cron's environment
(HOME, LOGNAME, USER, SHELL=/bin/sh, PATH=/usr/bin:/bin, then the crontab's variable
lines), the ``%`` part as standard input, parameters as ``UNIFIER_PARAM_<NAME>``
variables (see :mod:`unifier.adapters.cron.wrapper`). When unifier runs as root, the
command of a system-format line runs as the line's user, as cron would run it; otherwise
it runs as the user running unifier (the run's ``details.user`` says which). The run id is derived from
the firing, and the spool's claim makes sure one firing starts one process.

Native states (the spool's): starting -> queued; running; succeeded; failed (non-zero
exit); killed (a signal nobody asked for) -> failed; cancelled; lost (the runner
vanished without recording an end: killed -9, machine rebooted) -> failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from unifier.adapter import Adapter, Capabilities, ChangeSet, run_id_for_firing
from unifier.adapters.cron import ADAPTER, crontab
from unifier.adapters.cron.settings import CronSettings
from unifier.adapters.cron.wrapper import WRAPPER_MODULE_NAME, default_spool
from unifier.adapters.timestamps import parse_time
from unifier.errors import NotFound, ToolUnavailable, TriggerRefused
from unifier.model import Cause, CauseKind, Health, Job, Run, RunState, map_state
from unifier.schedule import next_run
from unifier.spool import RUN_ID_RE, Runners, Spool, SpoolRun, process_alive

log = logging.getLogger(__name__)

URI_RE = re.compile(r"^cron://(?P<instance>[^/]+)/(?P<native_id>.+)$")
CRON_PATH = "/usr/bin:/bin"  # the PATH cron gives its jobs unless the crontab sets one


def local_zone() -> str:
    """The machine's time zone name, which cron reads schedules in without CRON_TZ."""
    try:
        name = Path("/etc/timezone").read_text().strip()
        if name:
            return name
    except OSError:
        pass
    target = os.path.realpath("/etc/localtime")
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"


class CronAdapter(Adapter):
    kind = ADAPTER.kind
    settings_model = ADAPTER.settings
    capabilities = Capabilities(cancel=True, logs=True, schedules=True)
    state_map: ClassVar[dict[str, RunState]] = {
        "starting": RunState.QUEUED,
        "running": RunState.RUNNING,
        "succeeded": RunState.SUCCEEDED,
        "failed": RunState.FAILED,
        "killed": RunState.FAILED,
        "cancelled": RunState.CANCELLED,
        "lost": RunState.FAILED,
    }

    settings: CronSettings

    def __init__(self, instance: str, settings: CronSettings):
        super().__init__(instance, settings)
        self.spool = Spool(settings.spool or default_spool(instance))
        self.runners = Runners()  # the wrappers trigger() started, reaped as they exit

    # -- crontabs ---------------------------------------------------------------------

    def read_crontabs(self) -> tuple[list[crontab.Entry], list[str]]:
        """Every entry of every configured file, with ids, and the problems found."""
        tabs = []
        for source in self.settings.sources():
            for path in crontab.expand_paths(source.path):
                try:
                    tabs.append(crontab.parse(path, source.format))
                except OSError as exc:
                    raise ToolUnavailable(f"cannot read crontab {path}: {exc.strerror}",
                                          instance=self.instance) from exc
        problems = [p for tab in tabs for p in tab.problems] + crontab.assign_ids(tabs)
        for tab in tabs:
            for entry in tab.entries:
                if entry.wrapped and not entry.wrapped.job.startswith(f"cron://{self.instance}/"):
                    problems.append(f"{entry.path}:{entry.line}: wrapped for {entry.wrapped.job}, "
                                    f"not for instance {self.instance!r}: its runs are not seen here")
        return [e for tab in tabs for e in tab.entries], problems

    def _entry(self, native_id: str) -> crontab.Entry:
        entries, _ = self.read_crontabs()
        for entry in entries:
            if entry.native_id == native_id:
                return entry
        raise NotFound(f"no cron job {native_id!r} in instance {self.instance}")

    def _job(self, entry: crontab.Entry, zone: str) -> Job:
        tz = entry.timezone or zone
        schedule = entry.schedule
        try:
            owner = entry.user or pwd.getpwuid(os.stat(entry.path).st_uid).pw_name
        except (KeyError, OSError):
            owner = None
        return self.new_job(
            entry.native_id,
            name=entry.name or entry.native_id,
            description=entry.run_command.strip(),
            owner=owner,
            tags=["cron"] + ([self.settings.host] if self.settings.host else []),
            schedule=schedule,
            timezone=tz,
            url=Path(entry.path).as_uri(),
            next_run_at=next_run(schedule, tz) if schedule else None,
            extra={
                "file": entry.path, "line": entry.line, "format": entry.format,
                "expression": entry.expression, "user": entry.user, "host": self.settings.host,
                "wrapped": entry.wrapped is not None, "at_reboot": schedule is None,
                "stdin": entry.stdin is not None, "variables": sorted(entry.env),
            },
        )

    # -- runs -------------------------------------------------------------------------

    def _run(self, record: SpoolRun) -> Run | None:
        match = URI_RE.match(record.job)
        if not match or match["instance"] != self.instance:
            return None  # another instance sharing this spool
        cause = record.cause if isinstance(record.cause, dict) else {}
        try:
            kind = CauseKind(cause.get("kind") or "unknown")
        except ValueError:
            kind = CauseKind.UNKNOWN
        started = parse_time(record.started_at)
        return Run(
            job=self.job_uri(match["native_id"]), run_id=record.run_id,
            state=map_state(self.state_map, record.native_state), native_state=record.native_state,
            version=record.version, queued_at=started, started_at=started,
            ended_at=parse_time(record.ended_at), parameters=record.params or {},
            cause=Cause(kind=kind, firing_id=record.firing_id),
            log_url=self.spool.log_path(record.run_id).as_uri(),
            details={"exit_code": record.exit_code, "output_tail": record.output_tail,
                     "pid": record.pid, "host": record.host, "user": record.user,
                     **(record.details or {})},
        )

    def _get(self, native_id: str, run_id: str) -> tuple[SpoolRun, Run]:
        record = self.spool.get(run_id) if RUN_ID_RE.match(run_id) else None
        claim = self.spool.read_claim(run_id) if record is None and RUN_ID_RE.match(run_id) else None
        if claim is not None:  # claimed, no start record yet: starting, or died starting
            record = SpoolRun(run_id, claim.get("job", ""), "starting", 0, pid=claim.get("pid"),
                              pid_start=claim.get("pid_start"), host=claim.get("host"),
                              firing_id=claim.get("firing_id"))
            if not process_alive(record.pid, record.pid_start):
                record = self.spool.get(run_id) or self.spool.mark_lost(record, "runner died before starting")
        run = self._run(record) if record else None
        if record is None or run is None or run.job != self.job_uri(native_id):
            raise NotFound(f"no run {run_id!r} of {self.job_uri(native_id)}")
        return record, run

    # -- the contract -----------------------------------------------------------------

    async def discover(self) -> list[Job]:
        entries, problems = await asyncio.to_thread(self.read_crontabs)
        for problem in problems:
            log.warning("%s: %s", self.instance, problem)
        zone = local_zone()
        return [self._job(entry, zone) for entry in entries]

    async def changes(self, watermark: str | None) -> ChangeSet:
        try:
            found = await asyncio.to_thread(self.spool.read, watermark)
        except (OSError, ValueError, KeyError) as exc:
            raise ToolUnavailable(f"cannot read spool {self.spool.path}: {exc}",
                                  instance=self.instance) from exc
        runs = [run for run in map(self._run, found.runs) if run is not None]
        return ChangeSet(runs=runs, watermark=found.watermark, requests=1, notes=found.notes)

    async def trigger(self, native_id: str, params: dict[str, Any], firing_id: str, *,
                      fired_at: datetime | None = None) -> Run:
        entry = await asyncio.to_thread(self._entry, native_id)
        uri = self.job_uri(native_id)
        run_id = run_id_for_firing(f"{uri}\n{firing_id}", prefix="trig")
        argv = [sys.executable, "-m", WRAPPER_MODULE_NAME, "--job", uri,
                "--spool", str(self.spool.path), "--run-id", run_id, "--firing-id", firing_id,
                "--params-json", json.dumps(params), "--cause", "trigger", "--no-passthrough"]
        if entry.stdin is not None:
            argv += ["--stdin", entry.stdin]
        me = pwd.getpwuid(os.geteuid()).pw_name
        # As root, run the command as the line's user, as cron would; otherwise as ourselves.
        switch = entry.user if entry.user and entry.user != me and os.geteuid() == 0 else None
        if switch:
            argv += ["--user", switch]
        argv += ["--", entry.run_command]
        try:
            env = self._cron_env(entry, switch or me)
        except KeyError:
            raise TriggerRefused(f"{uri}: no such user {switch!r} on this machine",
                                 instance=self.instance) from None
        try:
            record = await asyncio.to_thread(self._spawn, argv, run_id, uri, env)
        except (OSError, RuntimeError) as exc:
            raise TriggerRefused(f"cannot start {uri}: {exc}", instance=self.instance) from exc
        run = self._run(record)
        assert run is not None
        return run

    def _spawn(self, argv: list[str], run_id: str, uri: str, env: dict[str, str]) -> SpoolRun:
        """The wrapper, detached, in the user's home as cron would (worker thread)."""
        cwd = env["HOME"] if os.path.isdir(env["HOME"]) else "/"
        return self.runners.spawn(self.spool, argv, run_id, uri, env=env, cwd=cwd)

    def _cron_env(self, entry: crontab.Entry, username: str) -> dict[str, str]:
        user = pwd.getpwnam(username)
        env = {"HOME": user.pw_dir, "LOGNAME": user.pw_name, "USER": user.pw_name,
               "SHELL": "/bin/sh", "PATH": CRON_PATH}
        env.update(entry.env)
        return env

    async def status(self, native_id: str, run_id: str) -> Run:
        return (await asyncio.to_thread(self._get, native_id, run_id))[1]

    async def cancel(self, native_id: str, run_id: str) -> None:
        record, _ = await asyncio.to_thread(self._get, native_id, run_id)
        if not record.ended:
            await asyncio.to_thread(self.spool.cancel, run_id)

    async def logs(self, native_id: str, run_id: str) -> str:
        await asyncio.to_thread(self._get, native_id, run_id)
        path = self.spool.log_path(run_id)
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def health(self) -> Health:
        try:
            entries, problems = await asyncio.to_thread(self.read_crontabs)
        except ToolUnavailable as exc:
            return Health(ok=False, message=str(exc))
        try:
            await asyncio.to_thread(self.spool.ensure)
        except OSError as exc:
            return Health(ok=False, message=f"cannot write spool {self.spool.path}: {exc.strerror}")
        message = f"{len(entries)} cron jobs"
        if problems:
            message += f"; {len(problems)} problem(s): " + "; ".join(problems[:3])
        return Health(ok=True, message=message,
                      details={"problems": problems, "spool": str(self.spool.path)})
