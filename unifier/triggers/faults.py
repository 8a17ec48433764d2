"""Kill points for fault-injection tests: ``UNIFIER_FAULT=POINT`` kills the process there.

The firing code calls :func:`fault_point` at each step where a crash could lose or
duplicate a firing. When the environment variable names that point, the process
sends itself SIGKILL: no cleanup, no flush, exactly like a power cut or the OOM
killer. Unset (always, outside tests), a kill point costs one dictionary look-up.

Points, in the order a firing passes them::

    before-ledger-write     the firing is decided but not yet in the ledger
    after-ledger-write      the firing is committed as pending; nothing called downstream
    after-downstream-call   the downstream tool started the run; nothing recorded yet
    before-ledger-record    the run is in the catalog; the ledger still says pending
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "UNIFIER_FAULT"
POINTS = ("before-ledger-write", "after-ledger-write", "after-downstream-call", "before-ledger-record")


def fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
