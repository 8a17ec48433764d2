"""Driving unifier's MCP server with the SDK's own client."""

from __future__ import annotations

import json
import sys
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters


def stdio_client(env: dict[str, str], *args: str) -> Client:
    """``unifier mcp ARGS`` as a subprocess, exactly as a desktop client starts it."""
    return Client(StdioServerParameters(command=sys.executable, args=["-m", "unifier", "mcp", *args], env=env),
                  read_timeout_seconds=60)


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """The tool's JSON answer; fails the test when the tool reports an error."""
    result = await client.call_tool(tool, arguments)
    text = "".join(c.text for c in result.content if c.type == "text")
    assert not result.is_error, f"{tool}({arguments}) failed: {text}"
    return json.loads(text)


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """The error message of a call that must fail."""
    result = await client.call_tool(tool, arguments)
    text = "".join(c.text for c in result.content if c.type == "text")
    assert result.is_error, f"{tool}({arguments}) should have failed but answered {text}"
    return text
