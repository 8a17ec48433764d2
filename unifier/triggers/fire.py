"""Fire: issue the ledger's pending firings through the downstream adapters.

For each due pending firing: count the attempt, render the parameters once (a render
error fails the firing, recorded, nothing started), then for each action not yet
issued ask the downstream adapter to trigger with the action's deterministic firing id,
record the run in the catalog with its cause (this trigger, this firing, the upstream
runs), and note the run in the ledger. A crash anywhere re-issues the same ids on the
next attempt, and the adapter returns the run it already started.

A tool that is down (:class:`~unifier.errors.ToolUnavailable`, or a busy job) leaves
the firing pending with a backoff; a tool that refuses for good (no such job, bad
parameters) fails that action, and the firing once nothing is left to try.

This is :func:`unifier.actions.trigger_job` unrolled, so that the fault-injection kill
points (:mod:`unifier.triggers.faults`) can sit between the adapter call and each write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from unifier.auth.approvals import MANUAL_TRIGGER, manual_cause
from unifier.catalog import Catalog
from unifier.errors import JobBusy, NotFound, SecretError, ToolUnavailable, UnifierError
from unifier.instances import build_adapter
from unifier.model import Cause, CauseKind, JobRef
from unifier.triggers import ledger
from unifier.triggers.faults import fault_point
from unifier.triggers.render import RenderError, render_params, upstream_context
from unifier.triggers.store import Firing, get_trigger

log = logging.getLogger("unifier.triggers")

# worth another try later: the tool may come back, the lock may be released
RETRYABLE = (ToolUnavailable, JobBusy, SecretError, OSError, TimeoutError)


@dataclass
class FireReport:
    issued: list[str] = field(default_factory=list)  # firing ids now fully issued
    failed: dict[str, str] = field(default_factory=dict)  # firing id -> error
    retrying: dict[str, str] = field(default_factory=dict)


async def fire_pending(catalog: Catalog, *, now: datetime | None = None) -> FireReport:
    report = FireReport()
    for firing in ledger.due_firings(catalog, now):
        await issue(catalog, firing, report)
    return report


async def issue(catalog: Catalog, firing: Firing, report: FireReport) -> None:
    attempts = ledger.begin_attempt(catalog, firing.id)
    if firing.trigger == MANUAL_TRIGGER:
        # an approved manual trigger (unifier.auth.approvals): no trigger spec, its
        # parameters were fixed when it was requested
        await _issue_actions(catalog, firing, report, attempts, manual_cause(catalog, firing.id))
        return
    try:
        trigger = get_trigger(catalog, firing.trigger)
    except NotFound:
        ledger.fail_firing(catalog, firing.id, f"trigger {firing.trigger} was deleted before it fired")
        report.failed[firing.id] = "trigger deleted"
        return
    if any(a.params is None for a in firing.actions):
        try:
            params = render_params(
                trigger.spec.then, trigger=trigger.name, firing_id=firing.id,
                fired_at=firing.created_at, upstream=upstream_context(catalog, firing.upstream_runs))
        except RenderError as exc:
            ledger.fail_firing(catalog, firing.id, str(exc))
            report.failed[firing.id] = str(exc)
            log.error("firing %s of %s failed: %s", firing.id, trigger.name, exc)
            return
        if len(params) != len(firing.actions):  # the spec changed under a pending firing
            params = (params + [{}] * len(firing.actions))[: len(firing.actions)]
        ledger.set_params(catalog, firing.id, params)
        for action, rendered in zip(firing.actions, params):
            if action.params is None:
                action.params = rendered
    cause = Cause(kind=CauseKind.TRIGGER, actor="unifier", trigger=firing.trigger,
                  firing_id=firing.id, upstream_runs=firing.upstream_runs)
    await _issue_actions(catalog, firing, report, attempts, cause)


async def _issue_actions(catalog: Catalog, firing: Firing, report: FireReport, attempts: int,
                         cause: Cause) -> None:
    done = True
    for index, action in enumerate(firing.actions):
        if action.run_id or (action.error or "").startswith("refused: "):
            continue
        try:
            ref = JobRef.parse(action.job)
            adapter = build_adapter(catalog.get_instance(ref.instance))
            try:
                run = await adapter.trigger(ref.native_id, action.params or {}, action.firing_id,
                                            fired_at=firing.created_at)
            finally:
                await adapter.close()
            fault_point("after-downstream-call")
            run = run.model_copy(update={"cause": cause, "parameters": run.parameters or action.params})
            catalog.record_runs([run])
            catalog.audit("trigger", action.job, {"run_id": run.run_id, "firing_id": action.firing_id,
                                                  "trigger": firing.trigger, "cause": "trigger"},
                          actor="unifier")
            fault_point("before-ledger-record")
            ledger.record_action(catalog, firing.id, index, run.key, cause)
            log.info("trigger %s started %s run %s (firing %s)", firing.trigger, action.job,
                     run.run_id, firing.id)
        except RETRYABLE as exc:
            done = False
            ledger.action_failed(catalog, firing.id, index, str(exc), retry=True)
            report.retrying[firing.id] = str(exc)
            log.warning("firing %s of %s: %s unavailable, retrying in %s: %s", firing.id,
                        firing.trigger, action.job, ledger.backoff(attempts), exc)
            break
        except (UnifierError, ValueError) as exc:
            ledger.action_failed(catalog, firing.id, index, str(exc), retry=False)
            report.failed[firing.id] = str(exc)
            log.error("firing %s of %s: %s refused: %s", firing.id, firing.trigger, action.job, exc)
        except Exception as exc:  # an adapter bug: keep the firing, try again later
            done = False
            message = f"{type(exc).__name__}: {exc}"
            ledger.action_failed(catalog, firing.id, index, message, retry=True)
            report.retrying[firing.id] = message
            log.exception("firing %s of %s: unexpected error from %s", firing.id, firing.trigger,
                          action.job)
            break
    if done and firing.id not in report.failed:
        report.issued.append(firing.id)

