"""Spools: where detached local runner processes record their runs (cron, Terraform).

:mod:`.journal` is the on-disk format with its writers and incremental reader;
:mod:`.supervise` runs a command as a recorded run and starts detached runners.
Standard library only: the runner (``unifier exec``) starts fast.
"""

from unifier.spool.journal import (
    RUN_ID_RE,
    TAIL_BYTES,
    Changes,
    Spool,
    SpoolRun,
    default_location,
    process_alive,
    process_start_time,
)
from unifier.spool.supervise import Command, Output, Runners, RunStart, execute

__all__ = [
    "RUN_ID_RE",
    "TAIL_BYTES",
    "Changes",
    "Command",
    "Output",
    "RunStart",
    "Runners",
    "Spool",
    "SpoolRun",
    "default_location",
    "execute",
    "process_alive",
    "process_start_time",
]
