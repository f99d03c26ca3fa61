"""A small graphql-transport-ws client: many subscriptions over one WebSocket, each
message time-stamped on arrival and handed to a callback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

Handler = Callable[[str, str, dict[str, Any], float], None]  # (id, type, payload, arrived)


class GraphQLSocket:
    """One connection; `on_message` sees every next/error/complete with its arrival time."""

    def __init__(self, url: str, on_message: Handler) -> None:
        self._url = url.replace("http://", "ws://", 1)
        self._on_message = on_message
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect and complete the connection_init / connection_ack handshake."""
        self._connection = await connect(
            self._url, subprotocols=[Subprotocol("graphql-transport-ws")], max_size=2**22, open_timeout=30, ping_interval=None
        )
        await self._connection.send(orjson.dumps({"type": "connection_init"}).decode())
        ack = orjson.loads(await asyncio.wait_for(self._connection.recv(), timeout=30))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"expected connection_ack, got {ack}")
        self._reader = asyncio.create_task(self._read())

    async def subscribe(self, operation_id: str, query: str, variables: dict[str, Any]) -> None:
        """Start a subscription."""
        assert self._connection is not None
        message = {"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        await self._connection.send(orjson.dumps(message).decode())

    async def _read(self) -> None:
        assert self._connection is not None
        with contextlib.suppress(ConnectionClosed):
            await self._read_messages(self._connection)

    async def _read_messages(self, connection: ClientConnection) -> None:
        async for raw in connection:
            arrived = time.perf_counter()
            message = orjson.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await connection.send(orjson.dumps({"type": "pong"}).decode())
            elif kind in ("next", "error", "complete"):
                self._on_message(message.get("id", ""), kind, message.get("payload") or {}, arrived)

    async def close(self) -> None:
        """Close the socket and stop reading."""
        if self._connection is not None:
            with contextlib.suppress(ConnectionClosed, OSError):
                await self._connection.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
