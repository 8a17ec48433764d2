"""Every error unifier raises on purpose, in one tree.

    UnifierError                  base; ``str(err)`` is a message fit for the user
    ├── ConfigError               a YAML file is refused: carries every Problem found
    ├── SecretError               a ${env:..} / ${file:..} reference cannot be resolved
    ├── CatalogError              the catalog cannot be opened or migrated
    ├── NotFound                  no such instance, job or run in the catalog
    ├── InvalidInput              a request's value is refused (bad parameter, bad duration)
    ├── Unauthenticated           no valid identity (missing, malformed, expired, revoked token)
    ├── Forbidden                 the principal lacks the permission; names it
    ├── PluginError               an adapter is not installed, or its extra is missing
    └── AdapterError              a tool answered badly or not at all; carries the instance
        ├── ToolUnavailable       connection refused, timeout, 5xx: only that instance degrades
        ├── Unsupported           the adapter lacks the capability asked for
        ├── JobBusy               the tool refuses a concurrent run (a Terraform state lock)
        └── TriggerRefused        the tool will not start the run (paused DAG, bad params)

The CLI maps ConfigError, InvalidInput and NotFound to exit status 2, every other
UnifierError to 1. The HTTP API maps the tree in :mod:`unifier.api.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnifierError(Exception):
    """Base of every error unifier raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One reason a configuration file is refused, located in the file."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class ConfigError(UnifierError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SecretError(UnifierError):
    pass


class CatalogError(UnifierError):
    pass


class NotFound(UnifierError):
    pass


class InvalidInput(UnifierError):
    pass


class Unauthenticated(UnifierError):
    pass


class Forbidden(UnifierError):
    def __init__(self, message: str, *, permission: str | None = None):
        self.permission = permission
        super().__init__(message)


class PluginError(UnifierError):
    pass


class AdapterError(UnifierError):
    def __init__(self, message: str, *, instance: str | None = None):
        self.instance = instance
        super().__init__(f"{instance}: {message}" if instance else message)


class ToolUnavailable(AdapterError):
    pass


class Unsupported(AdapterError):
    pass


class JobBusy(AdapterError):
    pass


class TriggerRefused(AdapterError):
    pass
