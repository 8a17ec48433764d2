"""Secret references: ``${env:NAME}`` and ``${file:PATH}``.

Configuration keeps references, never values: the catalog stores the reference text,
and values are resolved only when an adapter is built for use (:func:`resolve`).
Fields that hold credentials are typed :data:`SecretRef`, which refuses a literal so
that a password can never reach the catalog in clear. Any other string field may also
use references (a path taken from the environment, say).
"""

from __future__ import annotations

import contextvars
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, SecretStr

from unifier.errors import SecretError

REF_RE = re.compile(r"\$\{(?P<scheme>env|file):(?P<target>[^}]+)\}")


def references(value: str) -> list[str]:
    return [m.group(0) for m in REF_RE.finditer(value)]


def _resolve_one(match: re.Match[str]) -> str:
    scheme, target = match.group("scheme"), match.group("target").strip()
    if scheme == "env":
        if target not in os.environ:
            raise SecretError(f"{match.group(0)}: environment variable {target} is not set")
        return os.environ[target]
    path = Path(target).expanduser()
    try:
        return path.read_text().rstrip("\n")
    except OSError as exc:
        raise SecretError(f"{match.group(0)}: cannot read {path}: {exc.strerror}") from None


def resolve_str(value: str) -> str:
    return REF_RE.sub(_resolve_one, value)


def resolve(value: Any) -> Any:
    """Resolve every reference inside a JSON-like value (dicts, lists, strings)."""
    if isinstance(value, str):
        return resolve_str(value)
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def unresolvable(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """Every reference that cannot be resolved now, with where it sits."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(value, str):
        for match in REF_RE.finditer(value):
            try:
                _resolve_one(match)
            except SecretError as exc:
                found.append((path, str(exc)))
    elif isinstance(value, dict):
        for k, v in value.items():
            found += unresolvable(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += unresolvable(v, (*path, i))
    return found


def _must_be_reference(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    if not REF_RE.fullmatch(raw) and not _resolving():
        raise ValueError(
            "credentials must be a secret reference such as ${env:NAME} or ${file:PATH}, "
            "never a literal value"
        )
    return value


# Adapter settings are validated twice: once on the raw file (references required) and
# once after resolve() when an adapter is built (values allowed). A context variable
# tells the validator which of the two it is.
_RESOLVED = contextvars.ContextVar("unifier_secrets_resolved", default=False)


def _resolving() -> bool:
    return _RESOLVED.get()


class resolved_context:
    """``with resolved_context(): Settings.model_validate(resolve(raw))``"""

    def __enter__(self) -> None:
        self._token = _RESOLVED.set(True)

    def __exit__(self, *exc: object) -> None:
        _RESOLVED.reset(self._token)


SecretRef = Annotated[SecretStr, AfterValidator(_must_be_reference)]
"""A credential field: must be written as ``${env:NAME}`` or ``${file:PATH}``."""
