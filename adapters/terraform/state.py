"""What a root module's files say without running terraform: backend, workspace, state.

Observing applies made outside unifier rests on the state ``serial``: terraform bumps
it every time it writes state. Only local state can be watched this way (the
``terraform.tfstate`` file in the root, or ``terraform.tfstate.d/<workspace>/`` for a
named workspace); a remote backend (s3, gcs, remote, ...) keeps state elsewhere and
reading it would mean running ``terraform state pull`` per root per sync, so roots on a
remote backend are not observed (the adapter says so in ``health``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

LOCAL_BACKENDS = frozenset({"local"})
_BACKEND_RE = re.compile(r'^\s*backend\s+"(?P<type>[^"]+)"', re.MULTILINE)
_CLOUD_RE = re.compile(r"^\s*cloud\s*\{", re.MULTILINE)
# terraform writes "serial" and "lineage" near the top of the file: a small read
# finds them without parsing a state of many megabytes.
_SERIAL_RE = re.compile(rb'"serial"\s*:\s*(\d+)')
_LINEAGE_RE = re.compile(rb'"lineage"\s*:\s*"([^"]*)"')
_HEAD_BYTES = 4096


def has_configuration(path: Path) -> bool:
    """Whether ``path`` is a directory holding terraform configuration files."""
    return path.is_dir() and (any(path.glob("*.tf")) or any(path.glob("*.tf.json")))


def backend_type(root: Path) -> str:
    """The backend a root uses: from ``.terraform/terraform.tfstate`` once initialised
    (terraform records the backend there), else from a ``backend "X"`` block in the
    configuration, else ``local``."""
    recorded = root / ".terraform" / "terraform.tfstate"
    try:
        data = json.loads(recorded.read_text())
        kind = (data.get("backend") or {}).get("type")
        if kind:
            return str(kind)
    except (OSError, ValueError, AttributeError):
        pass
    for tf in sorted(root.glob("*.tf")):
        try:
            text = tf.read_text(errors="replace")
        except OSError:
            continue
        match = _BACKEND_RE.search(text)
        if match:
            return match["type"]
        if _CLOUD_RE.search(text):
            return "remote"
    return "local"


def workspace(root: Path, env: dict[str, str] | None = None) -> str:
    """The workspace terraform will use in ``root``: ``TF_WORKSPACE`` if set (in the
    extra env, then the process env), else ``.terraform/environment``, else default."""
    for source in (env or {}, os.environ):
        if source.get("TF_WORKSPACE"):
            return source["TF_WORKSPACE"]
    try:
        name = (root / ".terraform" / "environment").read_text().strip()
    except OSError:
        name = ""
    return name or "default"


def state_path(root: Path, ws: str) -> Path:
    """Where the local backend keeps the state of workspace ``ws``."""
    if ws == "default":
        return root / "terraform.tfstate"
    return root / "terraform.tfstate.d" / ws / "terraform.tfstate"


@dataclass(frozen=True)
class StateStamp:
    """Identity of one version of a state file."""

    serial: int
    lineage: str
    mtime: float  # seconds since the epoch
    mtime_ns: int
    size: int

    def same_version(self, serial: int | None, lineage: str | None) -> bool:
        return serial == self.serial and lineage == self.lineage


def stat_state(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def read_stamp(path: Path) -> StateStamp | None:
    """Serial and lineage of a local state file, or ``None`` when there is none (never
    applied) or it cannot be read (being rewritten: the next sync reads it)."""
    try:
        with path.open("rb") as handle:
            st = os.fstat(handle.fileno())
            head = handle.read(_HEAD_BYTES)
            serial = _SERIAL_RE.search(head)
            lineage = _LINEAGE_RE.search(head)
            if serial is None or lineage is None:
                handle.seek(0)
                data = json.loads(handle.read())
                return StateStamp(int(data["serial"]), str(data["lineage"]), st.st_mtime,
                                  st.st_mtime_ns, st.st_size)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return StateStamp(int(serial.group(1)), lineage.group(1).decode(), st.st_mtime,
                      st.st_mtime_ns, st.st_size)


def resource_count(path: Path) -> int | None:
    """Managed resource instances in a local state file (``None`` without one)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    count = 0
    for resource in data.get("resources") or []:
        if resource.get("mode", "managed") == "managed":
            count += len(resource.get("instances") or [])
    return count
