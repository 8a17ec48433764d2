"""Paths in configuration are relative to the YAML file that names them.

Settings models type such fields :data:`ConfigPath`; the loader validates with
``context={"base_dir": <the file's directory>}``, so ``crontabs: [./crontab]`` means
the crontab beside the YAML file wherever ``unifier`` is run from. Globs are kept as
globs (made absolute) for the adapter to expand.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo


def _absolute(value: str, info: ValidationInfo) -> str:
    if "${" in value:  # a reference: resolved (and made absolute) when used
        return value
    path = os.path.expanduser(value)
    base = (info.context or {}).get("base_dir")
    if not os.path.isabs(path) and base:
        path = os.path.join(base, path)
    return os.path.normpath(path)


ConfigPath = Annotated[str, AfterValidator(_absolute)]
"""A file or directory path (or glob) in adapter settings, relative to the YAML file."""
