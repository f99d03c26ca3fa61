"""The header-bytes limit counts the head only: a request whose small head and large body reach
the server in one read (a loaded server reads late) is served, not refused as 431 headerBytes."""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Scope, Send

from orderly.http_protocol import LimitedHttpToolsProtocol
from orderly.limit_settings import TransportLimits
from tests.support.loopback_uvicorn import serving
from tests.support.raw_http import read_response, request_head

LIMITS = TransportLimits(header_bytes=4 * 1024)


def _whole_requests_protocol(request_bytes: int) -> type[LimitedHttpToolsProtocol]:
    """Hands the parser each request of `request_bytes` in one chunk, as one late read would."""

    class WholeRequests(LimitedHttpToolsProtocol.with_limits(LIMITS)):  # type: ignore[misc]
        held = b""

        def data_received(self, data: bytes) -> None:
            self.held += data
            while len(self.held) >= request_bytes:
                whole, self.held = self.held[:request_bytes], self.held[request_bytes:]
                super().data_received(whole)

    return WholeRequests


async def _echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _request(body: bytes) -> bytes:
    return request_head("POST", "/", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]) + body


async def test_a_small_head_with_a_large_body_in_one_read_is_served() -> None:
    request = _request(b"x" * (70 * 1024))
    assert len(request) - 70 * 1024 < LIMITS.header_bytes < len(request)
    async with serving(_echo_length, _whole_requests_protocol(len(request))) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(2):  # the second on the same connection: its head starts after a completed message
                writer.write(request)
                response = await asyncio.wait_for(read_response(reader), 30)
                assert (response.status, response.body) == (200, str(70 * 1024).encode()), response
        finally:
            writer.close()


async def test_a_head_over_the_limit_is_still_refused_when_it_comes_in_one_read() -> None:
    request = request_head("POST", "/", [("X-Padding", "p" * (LIMITS.header_bytes + 10)), ("Content-Length", "2")]) + b"{}"
    async with serving(_echo_length, _whole_requests_protocol(len(request))) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            response = await asyncio.wait_for(read_response(reader), 30)
            assert response.status == 431, response
            assert response.json()["errors"][0]["extensions"]["limit"] == "headerBytes"
        finally:
            writer.close()
