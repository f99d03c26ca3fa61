"""A lean HTTP/1.1 keep-alive POST client for open-loop load from inside the bench's own
event loop (scenario 5). httpx costs about a millisecond of client CPU per request, which
at 1,000 commands/s on a 2-core machine made the bench's client the slowest process in
the run (responses were read after the notifications they caused); this costs a tenth."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class HttpPool:
    """Up to `size` keep-alive connections to one URL; a request takes an idle one or opens one."""

    def __init__(self, url: str, size: int = 64, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self._timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(size)
        self._open: set[asyncio.StreamWriter] = set()

    async def post_json(self, body: str) -> tuple[int, bytes]:
        """POST the JSON body; (status, payload). Raises OSError / TimeoutError on a broken exchange."""
        data = body.encode()
        head = (
            f"POST {self._path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        async with self._slots:
            for attempt in (1, 2):
                reused = attempt == 1 and bool(self._idle)
                reader, writer = self._idle.pop() if reused else await self._connect()
                try:
                    async with asyncio.timeout(self._timeout):
                        writer.write(head + data)
                        status_line = await reader.readline()
                        if not status_line and reused and attempt == 1:
                            # The server closed this idle keep-alive connection before
                            # reading the request (uvicorn: after 5 s idle): send it again.
                            self._discard(writer)
                            continue
                        length, close = 0, False
                        while (line := await reader.readline()) not in (b"\r\n", b""):
                            name, _, value = line.decode("latin-1").partition(":")
                            name = name.strip().lower()
                            if name == "content-length":
                                length = int(value)
                            elif name == "connection" and value.strip().lower() == "close":
                                close = True
                        payload = await reader.readexactly(length)
                except BaseException:
                    self._discard(writer)
                    raise
                if close:
                    self._discard(writer)
                else:
                    self._idle.append((reader, writer))
                break
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise OSError(f"malformed status line {status_line!r}")
        return int(parts[1]), payload

    async def close(self) -> None:
        """Close every connection."""
        for writer in list(self._open):
            self._discard(writer)
        self._idle.clear()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        self._open.add(writer)
        return reader, writer

    def _discard(self, writer: asyncio.StreamWriter) -> None:
        self._open.discard(writer)
        self._idle = [pair for pair in self._idle if pair[1] is not writer]
        writer.close()
