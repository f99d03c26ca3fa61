"""The limited protocol sends a response's head with its body in one write (orderly/http_protocol.py),
and a head whose body does not follow at once by itself: what reaches the socket is unchanged."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import Receive, Scope, Send

from orderly.http_protocol import LimitedHttpToolsProtocol
from orderly.limit_settings import TransportLimits
from tests.support.loopback_uvicorn import serving
from tests.support.raw_http import read_response, request_head

DEADLOCK = 10.0  # seconds: only a head held back for good reaches it


class _RecordingTransport:
    """The socket's transport, keeping every write."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self.writes = writes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)


def _recording_protocol(writes: list[bytes]) -> type[LimitedHttpToolsProtocol]:
    class Recording(LimitedHttpToolsProtocol.with_limits(TransportLimits())):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(_RecordingTransport(transport, writes))  # type: ignore[arg-type]

    return Recording


class _App:
    """/plain: a JSON answer; /streamed: the head, then the body once `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/json")]
        if scope["path"] == "/streamed":
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await self.release.wait()
            await send({"type": "http.response.body", "body": b'{"part":1}', "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        body = b'{"answer":42}'
        await send({"type": "http.response.start", "status": 200, "headers": [*headers, (b"content-length", b"13")]})
        await send({"type": "http.response.body", "body": body})


def _serve(app: Any, writes: list[bytes]) -> contextlib.AbstractAsyncContextManager[int]:
    return serving(app, _recording_protocol(writes))


async def test_a_response_goes_out_in_one_write_with_its_head_first() -> None:
    writes: list[bytes] = []
    async with _serve(_App(), writes) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):  # keep-alive: each response of the connection
            writer.write(request_head("GET", "/plain"))
            response = await asyncio.wait_for(read_response(reader), DEADLOCK)
            assert (response.status, response.json()) == (200, {"answer": 42})
        writer.close()
    assert len(writes) == 3, writes
    for write in writes:
        assert write.startswith(b"HTTP/1.1 200 OK\r\n")
        assert write.endswith(b'\r\n\r\n{"answer":42}')


async def test_pipelined_requests_are_answered_in_order() -> None:
    # Only the newest request's response is coalesced (uvicorn's `cycle` is the last one parsed).
    writes: list[bytes] = []
    async with _serve(_App(), writes) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_head("GET", "/plain") + request_head("HEAD", "/plain") + request_head("GET", "/plain"))
        first = await asyncio.wait_for(read_response(reader), DEADLOCK)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLOCK)  # a HEAD answer has no body
        last = await asyncio.wait_for(read_response(reader), DEADLOCK)
        writer.close()
    assert first.json() == last.json() == {"answer": 42}
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 13" in head
    assert b"".join(writes).count(b"HTTP/1.1 200 OK") == 3


async def test_a_head_whose_body_waits_is_sent_before_the_body() -> None:
    app = _App()
    writes: list[bytes] = []
    async with _serve(app, writes) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_head("GET", "/streamed"))
        # The app sends its body only after the client has the head: a held head would never come.
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLOCK)
        finally:
            app.release.set()  # the server's shutdown waits for the app
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"transfer-encoding: chunked" in head
        rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), DEADLOCK)
        writer.close()
    assert rest == b'a\r\n{"part":1}\r\n0\r\n\r\n'
    assert writes[0] == head
