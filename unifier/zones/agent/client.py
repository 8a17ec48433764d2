"""The agent's only connection: outward, to the control plane's agent routes."""

from __future__ import annotations

from typing import Any

import httpx

from unifier.zones.identity import AGENT_ID_HEADER, AGENT_NAME_HEADER, AGENT_VERSION_HEADER, ZONE_HEADER


class OutboxGap(Exception):
    """The control plane waits for an earlier message than the ones sent."""

    def __init__(self, acked_seq: int):
        super().__init__(f"control plane has applied up to {acked_seq}")
        self.acked_seq = acked_seq


class ControlPlane:
    def __init__(self, server: str, token: str, *, zone: str, agent_id: str, name: str,
                 version: str, transport: httpx.AsyncBaseTransport | None = None):
        headers = {"Authorization": f"Bearer {token}", ZONE_HEADER: zone, AGENT_ID_HEADER: agent_id,
                   AGENT_NAME_HEADER: name, AGENT_VERSION_HEADER: version}
        self.http = httpx.AsyncClient(base_url=server.rstrip("/"), headers=headers, transport=transport,
                                      timeout=httpx.Timeout(30.0, connect=5.0))

    async def close(self) -> None:
        await self.http.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        if response.status_code == 409 and path.endswith("/outbox"):
            raise OutboxGap(int(response.json().get("acked_seq", 0)))
        response.raise_for_status()
        return response.json()

    async def instances(self) -> list[dict[str, Any]]:
        return list(await self._json("GET", "/api/agent/instances"))

    async def pull(self, wait: float, limit: int = 50) -> dict[str, Any]:
        return dict(await self._json("POST", "/api/agent/pull", json={"wait": wait, "limit": limit},
                                     timeout=httpx.Timeout(wait + 15.0, connect=5.0)))

    async def ack(self, ids: list[int]) -> list[int]:
        return list((await self._json("POST", "/api/agent/ack", json={"ids": ids}))["acked"])

    async def push(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(await self._json("POST", "/api/agent/outbox", json={"messages": messages}))
