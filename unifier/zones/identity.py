"""Who is calling the agent routes: which zone, which agent process.

The zone comes from the caller's token (role ``agent``, scoped to its zone), and the
header ``X-Unifier-Zone``, when sent, must agree; only an admin (or anyone on an open
loopback server) names its zone by the header. That is decided in one place:
:func:`unifier.api.agent.agent_identity`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from unifier.model import NAME_RE

ZONE_HEADER = "X-Unifier-Zone"
AGENT_ID_HEADER = "X-Unifier-Agent-Id"
AGENT_NAME_HEADER = "X-Unifier-Agent-Name"
AGENT_VERSION_HEADER = "X-Unifier-Agent-Version"

AGENT_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class AgentIdentity:
    zone: str
    agent_id: str  # stable across restarts: kept in the agent's state directory
    name: str  # for people: host name unless given
    version: str | None


def parse_identity(zone: str | None, agent_id: str | None, name: str | None,
                   version: str | None) -> AgentIdentity | str:
    """The identity the headers give, or the reason they do not."""
    if not zone or not NAME_RE.match(zone) or len(zone) > 63:
        return f"header {ZONE_HEADER} must name a zone (lower-case letters, digits and '-')"
    if not agent_id or not AGENT_ID_RE.match(agent_id):
        return f"header {AGENT_ID_HEADER} must hold the agent's id (letters, digits, '._-', at most 64)"
    return AgentIdentity(zone=zone, agent_id=agent_id, name=(name or agent_id)[:255],
                         version=(version or None) and version[:64])
