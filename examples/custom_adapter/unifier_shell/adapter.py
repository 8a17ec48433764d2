"""Each job is a shell command; a run is one execution, kept in memory per process."""

import asyncio
import os
import signal
from typing import Any

from unifier.adapter import Adapter, Capabilities, ChangeSet, run_id_for_firing
from unifier.errors import NotFound
from unifier.model import Cause, CauseKind, Run, RunState, utcnow
from unifier_shell import ADAPTER

_RUNS: dict[str, dict[str, Any]] = {}


class ShellAdapter(Adapter):
    kind = ADAPTER.kind
    settings_model = ADAPTER.settings
    capabilities = Capabilities(cancel=True, logs=True)
    state_map = {"running": RunState.RUNNING, "exit-0": RunState.SUCCEEDED,
                 "exit-nonzero": RunState.FAILED, "killed": RunState.CANCELLED}

    async def discover(self):
        return [self.new_job(name, description=cmd) for name, cmd in self.settings.commands.items()]

    async def changes(self, watermark):
        seq = int(watermark or 0)
        runs = [self._run(r) for r in _RUNS.values() if r["instance"] == self.instance and r["seq"] > seq]
        latest = max([r["seq"] for r in _RUNS.values()] + [seq])
        return ChangeSet(runs=runs, watermark=str(latest), requests=0)

    async def trigger(self, native_id, params, firing_id, *, fired_at=None):
        if native_id not in self.settings.commands:
            raise NotFound(f"no command {native_id!r}")
        run_id = run_id_for_firing(firing_id, prefix="sh")
        if run_id not in _RUNS:
            env = {**os.environ, **{f"P_{k}": str(v) for k, v in params.items()}}
            proc = await asyncio.create_subprocess_shell(
                self.settings.commands[native_id], env=env, start_new_session=True,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            record = {"instance": self.instance, "job": native_id, "proc": proc, "params": params,
                      "started": utcnow(), "ended": None, "native": "running", "output": "",
                      "seq": len(_RUNS) + 1, "firing_id": firing_id}
            _RUNS[run_id] = record
            asyncio.get_running_loop().create_task(self._watch(run_id))
        return self._run(_RUNS[run_id], run_id)

    async def _watch(self, run_id):
        record = _RUNS[run_id]
        output, _ = await record["proc"].communicate()
        record["output"] = output.decode(errors="replace")
        code = record["proc"].returncode
        if record["native"] != "killed":
            record["native"] = "exit-0" if code == 0 else "exit-nonzero"
        record["ended"] = utcnow()
        record["seq"] = max(r["seq"] for r in _RUNS.values()) + 1

    def _run(self, record, run_id=None):
        run_id = run_id or next(k for k, v in _RUNS.items() if v is record)
        native = record["native"]
        return Run(job=self.job_uri(record["job"]), run_id=run_id, native_state=native,
                   state=self.state_map.get(native, RunState.UNKNOWN), started_at=record["started"],
                   ended_at=record["ended"], parameters=dict(record["params"]),
                   cause=Cause(kind=CauseKind.TRIGGER, firing_id=record["firing_id"]))

    async def status(self, native_id, run_id):
        await asyncio.sleep(0)
        record = _RUNS.get(run_id)
        if record is None or record["job"] != native_id:
            raise NotFound(f"no run {run_id!r} of {native_id!r}")
        return self._run(record, run_id)

    async def cancel(self, native_id, run_id):
        record = _RUNS[run_id]
        if record["ended"] is None:
            record["native"] = "killed"
            os.killpg(record["proc"].pid, signal.SIGTERM)

    async def logs(self, native_id, run_id):
        return _RUNS[run_id]["output"]
