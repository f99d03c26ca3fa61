"""A raw WebSocket client that shows the frame type of each message, and a server whose view is tuned."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import websockets
from starlette.routing import WebSocketRoute

from orderly.app import create_app
from orderly.bootstrap import build_container
from orderly.graphql_view import OrderlyGraphQL
from orderly.settings import Settings
from tests.support.server import serving


class RawSocket:
    """One connection: frames in and out as they travel, text and binary told apart."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket

    async def send(self, message: object) -> None:
        """Send a JSON text frame."""
        await self.socket.send(json.dumps(message))

    async def frame(self, timeout: float = 10.0) -> str | bytes:
        """The next frame: str for a text frame, bytes for a binary one."""
        return await asyncio.wait_for(self.socket.recv(), timeout)  # type: ignore[no-any-return]

    async def text_message(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame, which must be a text frame holding a JSON object."""
        frame = await self.frame(timeout)
        assert isinstance(frame, str), f"binary frame: {frame!r}"
        return json.loads(frame)  # type: ignore[no-any-return]

    async def closed(self, timeout: float = 10.0) -> tuple[int | None, str | None]:
        """Wait for the server's close frame; its (code, reason), never a drop without one."""
        await asyncio.wait_for(self.socket.wait_closed(), timeout)
        received = self.socket.protocol.close_rcvd
        assert received is not None, "the server dropped the socket without a close frame"
        return received.code, received.reason

    async def init(self, payload: dict[str, Any] | None = None) -> None:
        """connection_init, then the connection_ack (as a text frame)."""
        await self.send({"type": "connection_init", "payload": payload or {}})
        assert (await self.text_message())["type"] == "connection_ack"


@asynccontextmanager
async def raw_websocket(url: str, protocol: str) -> AsyncIterator[RawSocket]:
    """Connect with the protocol, without any handshake."""
    async with websockets.connect(url.replace("http://", "ws://", 1), subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        yield RawSocket(socket)


@asynccontextmanager
async def tuned_server(settings: Settings, tune: Callable[[OrderlyGraphQL], None]) -> AsyncIterator[str]:
    """Serve the app with its GraphQL view changed by `tune` (e.g. keep-alive on); yields /graphql's URL."""
    app = create_app(settings, container=build_container(settings))
    tune(next(route.endpoint for route in app.routes if isinstance(route, WebSocketRoute)))
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}/graphql"
