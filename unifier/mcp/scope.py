"""What an agent may see: job-URI glob patterns.

Scope is a filter, not only a gate: every answer an agent gets (listings, counts,
graphs, causal chains, forecasts) is limited to the jobs its patterns match, so a
team-a agent never learns that a team-b job exists.

Patterns use :mod:`fnmatch` semantics, case-sensitive, where ``*`` matches ``/`` too:
``cron://team-a/*`` matches ``cron://team-a/nightly`` and ``jenkins://ci/team-a/*``
matches every job in that folder and its sub-folders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Scope:
    """``patterns`` is None for everything; an empty tuple sees nothing."""

    patterns: tuple[str, ...] | None = None

    @classmethod
    def of(cls, patterns: list[str] | tuple[str, ...] | None) -> Scope:
        return cls(None if patterns is None else tuple(patterns))

    @property
    def unlimited(self) -> bool:
        return self.patterns is None

    def allows(self, job_uri: str) -> bool:
        if self.patterns is None:
            return True
        return any(fnmatchcase(job_uri, pattern) for pattern in self.patterns)

    def allows_instance(self, kind: str, name: str) -> bool:
        """Whether some job of the instance ``kind://name`` may be in scope: the literal
        start of a pattern (before its first wildcard) and the instance's namespace agree."""
        if self.patterns is None:
            return True
        namespace = f"{kind}://{name}/"
        for pattern in self.patterns:
            literal = _WILDCARD.split(pattern, maxsplit=1)[0]
            if literal.startswith(namespace) or namespace.startswith(literal):
                return True
        return False

    def describe(self) -> str:
        return "all jobs" if self.patterns is None else ", ".join(self.patterns) or "no job"
