"""Reading terraform's machine-readable UI stream (``-json``): one JSON object a line.

Terraform 1.0+ emits, among others, ``version``, ``planned_change``, ``apply_start``,
``provision_progress``, ``apply_complete``, ``apply_errored``, ``diagnostic``,
``change_summary`` and ``outputs`` (https://developer.hashicorp.com/terraform/internals/machine-readable-ui).
:class:`StreamSummary` folds them into what a run records: resources changed,
outputs, diagnostics, and whether the state lock was refused. Every line also has a
human ``@message``, which becomes the run's log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

LOCK_ERROR = "Error acquiring the state lock"

# Sensitive outputs are never written to the spool or the catalog.
REDACTED = "(sensitive)"


@dataclass
class StreamSummary:
    """What one terraform command reported on its ``-json`` stream."""

    changes: dict[str, int] | None = None  # {"add", "change", "remove"} from change_summary
    operation: str | None = None  # plan | apply | destroy, from change_summary
    outputs: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    planned: list[dict[str, str]] = field(default_factory=list)  # [{"address", "action"}]
    errored: list[str] = field(default_factory=list)  # addresses whose apply errored
    terraform_version: str | None = None
    lines: int = 0

    @property
    def locked(self) -> bool:
        """Terraform refused to run because another process holds the state lock."""
        return any(d.get("summary", "").startswith(LOCK_ERROR) for d in self.diagnostics)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [d for d in self.diagnostics if d.get("severity") == "error"]

    @property
    def no_changes(self) -> bool:
        return self.changes is not None and not any(self.changes.values())

    def feed(self, line: str) -> str | None:
        """Take one line of the stream; return the human text to log for it (``None``
        for an empty line). A line that is not JSON (a crash trace, a provider's
        stray output) is kept verbatim in the log."""
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        self.lines += 1
        try:
            event = json.loads(line)
        except ValueError:
            return line
        if not isinstance(event, dict):
            return line
        kind = event.get("type")
        handler = _HANDLERS.get(kind)  # type: ignore[arg-type]
        if handler is not None:
            handler(self, event)
        return human_line(event)

    def as_details(self) -> dict[str, Any]:
        """The summary as it is recorded on the run (JSON-serialisable)."""
        details: dict[str, Any] = {
            "resources": self.changes,
            "outputs": self.outputs,
            "diagnostics": self.diagnostics,
        }
        if self.planned:
            details["planned"] = self.planned
        if self.errored:
            details["errored"] = self.errored
        if self.terraform_version:
            details["terraform_version"] = self.terraform_version
        return details

    # -- handlers, one per event type ------------------------------------------------

    def _version(self, event: dict[str, Any]) -> None:
        self.terraform_version = event.get("terraform")

    def _change_summary(self, event: dict[str, Any]) -> None:
        changes = event.get("changes") or {}
        self.changes = {key: int(changes.get(key) or 0) for key in ("add", "change", "remove")}
        self.operation = changes.get("operation")

    def _outputs(self, event: dict[str, Any]) -> None:
        for name, output in (event.get("outputs") or {}).items():
            if not isinstance(output, dict):
                continue
            self.outputs[name] = REDACTED if output.get("sensitive") else output.get("value")

    def _diagnostic(self, event: dict[str, Any]) -> None:
        diag = event.get("diagnostic") or {}
        kept = {key: diag[key] for key in ("severity", "summary", "detail", "address") if diag.get(key)}
        rng = diag.get("range") or {}
        if rng.get("filename"):
            kept["range"] = f"{rng['filename']}:{(rng.get('start') or {}).get('line', 0)}"
        self.diagnostics.append(kept)

    def _planned_change(self, event: dict[str, Any]) -> None:
        change = event.get("change") or {}
        address = ((change.get("resource") or {}).get("addr")) or "?"
        self.planned.append({"address": address, "action": change.get("action", "?")})

    def _apply_errored(self, event: dict[str, Any]) -> None:
        hook = event.get("hook") or {}
        self.errored.append(((hook.get("resource") or {}).get("addr")) or "?")


_HANDLERS = {
    "version": StreamSummary._version,
    "change_summary": StreamSummary._change_summary,
    "outputs": StreamSummary._outputs,
    "diagnostic": StreamSummary._diagnostic,
    "planned_change": StreamSummary._planned_change,
    "apply_errored": StreamSummary._apply_errored,
}


def human_line(event: dict[str, Any]) -> str:
    """The log text of one event: its ``@message``, plus a diagnostic's detail (the
    message alone says only "Error: ...")."""
    text = str(event.get("@message", ""))
    if event.get("type") == "diagnostic":
        detail = (event.get("diagnostic") or {}).get("detail")
        if detail:
            text = f"{text}\n{detail.rstrip()}"
    return text
