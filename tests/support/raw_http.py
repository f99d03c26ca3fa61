"""Raw HTTP/1.1 over a TCP socket: requests no ordinary client would send (huge or endless heads,
bodies that never finish), and what the server answered."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawResponse:
    """The status, headers (lower-case names) and body the server sent, and how much the client wrote."""

    status: int
    headers: dict[str, str]
    body: bytes
    sent: int = 0
    closed: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def request_head(method: str, path: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A request line and headers, with Host, ending the head."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def exchange(
    port: int,
    head: bytes,
    body: Iterable[bytes] = (),
    *,
    pause: float = 0.0,
    timeout: float = 30.0,
) -> RawResponse:
    """Write head then body chunks (pausing between chunks) while reading one response; then
    whether the server closed the connection. Writing stops quietly when the server resets it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0

    async def pump() -> None:
        nonlocal sent
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(head)
            await writer.drain()
            for chunk in body:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                if pause:
                    await asyncio.sleep(pause)

    writing = asyncio.create_task(pump())
    try:
        response = await asyncio.wait_for(read_response(reader), timeout)
        response.seconds = loop.time() - started
        response.sent = sent  # body bytes written when the answer came
        try:
            response.closed = await asyncio.wait_for(reader.read(1), 5) == b""
        except ConnectionError:
            response.closed = True
        except TimeoutError:
            response.closed = False
        return response
    finally:
        writing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writing
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """One response with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RawResponse(status=int(status_line.split()[1]), headers=headers, body=body)


async def held_until_closed(port: int, data: bytes, timeout: float) -> float | None:
    """Send data and nothing more; the seconds until the server closes the connection, None if it did not within timeout."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if data:
            writer.write(data)
            await writer.drain()
        try:
            while await asyncio.wait_for(reader.read(65536), timeout):
                pass
        except TimeoutError:
            return None
        except ConnectionError:
            pass
        return loop.time() - started
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
