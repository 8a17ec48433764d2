"""AI agents as clients of the control plane, through the Model Context Protocol.

- :mod:`~unifier.mcp.backend`: the seam (what the tools need from the control plane);
- :mod:`~unifier.mcp.local`: that seam over the local catalog;
- :mod:`~unifier.mcp.server`: the tools, resources and prompts, audited;
- :mod:`~unifier.mcp.http`: ``/mcp`` over streamable HTTP; ``unifier mcp`` serves stdio.
"""

from unifier.mcp.backend import Agent, ControlPlaneReader, ControlPlaneRequester
from unifier.mcp.http import create_mcp_app, mount_mcp
from unifier.mcp.scope import Scope
from unifier.mcp.server import MCPSettings, create_mcp_server

__all__ = ["Agent", "ControlPlaneReader", "ControlPlaneRequester", "MCPSettings", "Scope", "create_mcp_app",
           "create_mcp_server", "mount_mcp"]
