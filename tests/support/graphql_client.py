"""What a client sees: GraphQL over HTTP, and over WebSocket with either protocol."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class GraphQLHttp:
    """POSTs operations to /graphql."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self._client = client
        self.url = url

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole response body (data and errors)."""
        response = await self._client.post(self.url, json={"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of a response that must have no errors."""
        body = await self.execute(query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    async def error_code(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """The code of the first error of a response that must have one."""
        body = await self.execute(query, variables)
        assert body.get("errors"), body
        return str(body["errors"][0]["extensions"]["code"])


class WsSubscription:
    """One subscription's messages on a WebSocket, in either protocol."""

    def __init__(self, socket: Any, protocol: str, operation_id: str, pending: dict[str, deque[dict[str, Any]]]) -> None:
        self._socket = socket
        self._protocol = protocol
        self._id = operation_id
        self._pending = pending

    async def _receive(self, timeout: float) -> dict[str, Any]:
        """The next message for this operation; others' messages wait in their queues."""
        while True:
            queued = self._pending.get(self._id)
            if queued:
                return queued.popleft()
            message = json.loads(await asyncio.wait_for(self._socket.recv(), timeout))
            kind = message["type"]
            if kind == "ping":
                await self._socket.send(json.dumps({"type": "pong"}))
            elif kind not in {"ka", "pong"}:
                self._pending.setdefault(str(message.get("id")), deque()).append(message)

    async def next_message(self, timeout: float = 10.0) -> tuple[str, Any]:
        """("next", payload) / ("error", payload) / ("complete", None), protocols normalised."""
        while True:
            message = await self._receive(timeout)
            kind = message["type"]
            if kind in {"next", "data"}:
                payload = message["payload"]
                if payload.get("errors"):
                    return "error", payload["errors"]
                return "next", payload
            if kind == "error":
                payload = message["payload"]
                return "error", payload if isinstance(payload, list) else [payload]
            if kind == "complete":
                return "complete", None

    async def stop(self) -> None:
        """Tell the server the client is no longer interested."""
        kind = "complete" if self._protocol == TRANSPORT_WS else "stop"
        await self._socket.send(json.dumps({"id": self._id, "type": kind}))


class GraphQLWebSocket:
    """A connected, acknowledged WebSocket."""

    def __init__(self, socket: Any, protocol: str) -> None:
        self.socket = socket
        self.protocol = protocol
        self._count = 0
        self._pending: dict[str, deque[dict[str, Any]]] = {}

    async def subscribe(
        self,
        query: str | None,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> WsSubscription:
        """Start an operation and return its message stream (without a query when None: by a persisted hash)."""
        self._count += 1
        operation_id = str(self._count)
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload: dict[str, Any] = {"variables": variables or {}}
        if query is not None:
            payload["query"] = query
        if operation_name is not None:
            payload["operationName"] = operation_name
        if extensions is not None:
            payload["extensions"] = extensions
        await self.socket.send(json.dumps({"id": operation_id, "type": kind, "payload": payload}))
        return WsSubscription(self.socket, self.protocol, operation_id, self._pending)


@asynccontextmanager
async def websocket(url: str, protocol: str) -> AsyncIterator[GraphQLWebSocket]:
    """Connect with the protocol and complete its handshake."""
    ws_url = url.replace("http://", "ws://", 1)
    async with websockets.connect(ws_url, subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if message["type"] == "connection_ack":
                break
        yield GraphQLWebSocket(socket, protocol)
