"""``unifier mcp`` against a remote unifier: stdio in, the server's ``/mcp`` out.

A desktop client starts ``unifier mcp`` as a subprocess and speaks MCP on its stdin
and stdout; with ``UNIFIER_SERVER`` set, every message is relayed unchanged to that
server's streamable-HTTP endpoint with ``Authorization: Bearer $UNIFIER_TOKEN``. The
server decides everything (which tools exist, the token's scope, the audit): the
bridge adds nothing and holds no state beyond the HTTP session.
"""

from __future__ import annotations

import logging

import anyio
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client

log = logging.getLogger(__name__)


def endpoint(server: str) -> str:
    """The MCP URL of a unifier server given as its base URL (or already as .../mcp)."""
    base = server.rstrip("/")
    return base if base.endswith("/mcp") else base + "/mcp"


async def relay(url: str, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with (create_mcp_http_client(headers=headers) as http,
                streamable_http_client(url, http_client=http) as (remote_read, remote_write),
                stdio_server() as (local_read, local_write),
                anyio.create_task_group() as group):

        async def upstream() -> None:
            async for message in local_read:
                if isinstance(message, Exception):
                    log.warning("ignoring a malformed message from the client: %s", message)
                    continue
                await remote_write.send(message)
            group.cancel_scope.cancel()  # the client closed stdin: we are done

        async def downstream() -> None:
            async for message in remote_read:
                if isinstance(message, Exception):
                    log.warning("the server at %s: %s", url, message)
                    continue
                await local_write.send(message)

        group.start_soon(upstream)
        group.start_soon(downstream)
