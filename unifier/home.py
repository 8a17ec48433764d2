"""Where unifier keeps its files: ``$UNIFIER_HOME``, by default ``~/.unifier``.

Standard library only: the cron wrapper imports it on every scheduled run.
"""

from __future__ import annotations

import os
from pathlib import Path


def unifier_home() -> Path:
    return Path(os.environ.get("UNIFIER_HOME") or Path.home() / ".unifier").expanduser()
