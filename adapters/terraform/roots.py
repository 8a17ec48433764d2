"""Which directories the configured ``roots`` name: the one place that expands globs and
says what is wrong with a root, for discovery and for ``unifier validate`` alike."""

from __future__ import annotations

import glob
import re
from pathlib import Path

from unifier.adapters.terraform.state import has_configuration

_GLOB_CHARS = re.compile(r"[*?\[]")


def find_roots(entries: list[str]) -> tuple[list[Path], list[str]]:
    """Root-module directories named by ``entries`` (paths or globs), in order, and the
    problems: a root that does not exist or holds no ``*.tf`` file, a glob that matches
    no root module."""
    found: list[Path] = []
    problems: list[str] = []
    for entry in entries:
        if _GLOB_CHARS.search(entry):
            matches = [p for p in map(Path, sorted(glob.glob(entry, recursive=True))) if has_configuration(p)]
            if not matches:
                problems.append(f"roots pattern {entry} matches no root module (a directory with *.tf files)")
            found += matches
        elif has_configuration(Path(entry)):
            found.append(Path(entry))
        elif Path(entry).is_dir():
            problems.append(f"root {entry} holds no *.tf files")
        else:
            problems.append(f"root {entry} does not exist")
    return found, problems
