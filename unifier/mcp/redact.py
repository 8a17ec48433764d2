"""Keeping secrets out of what an agent reads and what the audit records.

Configuration holds references (``${env:NAME}``, ``${file:PATH}``), never values; but
a job may print a value it was given (a password in a connection string), and an
agent may pass one in a tool's arguments. :class:`Redactor` knows the values the
instances' references resolve to *now* and masks them wherever they appear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from unifier.errors import SecretError
from unifier.secrets import REF_RE, resolve_str

if TYPE_CHECKING:
    from unifier.catalog import Catalog

MASK = "***"
MIN_SECRET_LENGTH = 4  # masking every "a" or "1" in a log would make it unreadable
MAX_AUDITED_TEXT = 200  # characters of one argument kept in the audit (a whole YAML file is not)

# argument names whose values are secret whatever they hold
_SECRET_NAME = re.compile(r"pass(word)?|secret|token|api[_-]?key|credential|private[_-]?key", re.IGNORECASE)


def reference_values(config: Any) -> set[str]:
    """The current values of every secret reference inside ``config`` (unresolvable
    ones are skipped: what cannot be resolved cannot leak)."""
    found: set[str] = set()
    if isinstance(config, str):
        for match in REF_RE.finditer(config):
            try:
                value = resolve_str(match.group(0))
            except SecretError:
                continue
            if len(value) >= MIN_SECRET_LENGTH:
                found.add(value)
    elif isinstance(config, dict):
        for value in config.values():
            found |= reference_values(value)
    elif isinstance(config, list):
        for value in config:
            found |= reference_values(value)
    return found


class Redactor:
    """Masks known secret values in text and JSON-like data."""

    def __init__(self, secrets: Iterable[str] = ()):
        # longest first: a secret that contains another is masked whole
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, MASK)
        return value

    def value(self, value: Any, name: str = "") -> Any:
        """A JSON-like value with secret-named fields and known secret values masked."""
        if name and _SECRET_NAME.search(name) and value not in (None, "") and not _is_reference(value):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def for_audit(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Tool arguments as the audit keeps them: redacted, long texts cut short."""
        return {k: _shorten(v) for k, v in self.value(arguments).items()}


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and REF_RE.fullmatch(value) is not None


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_AUDITED_TEXT:
        return f"{value[:MAX_AUDITED_TEXT]}... ({len(value)} characters)"
    return value


def redactor_for(catalog: Catalog) -> Redactor:
    """Masks the current values of every reference in every instance's configuration."""
    secrets: set[str] = set()
    for stored in catalog.list_instances():
        secrets |= reference_values(stored.spec.get("config", {}))
    return Redactor(secrets)
