"""uvicorn's httptools protocol with limits on request headers and on how long a request may take to arrive.

uvicorn (0.54) exposes no header limit for httptools (llhttp has none; h11 has
`h11_max_incomplete_event_size`, but h11 is pure Python and serves a third fewer requests a
second), and no timeout at all before a request's headers are complete: a 1 MB header, 10,000
headers and a connection that never finishes its headers were all accepted and held. This
subclass counts, before any ASGI app runs:

- header bytes (request line and headers): over the limit, 431 and close. Bytes of a header
  still being received count as they arrive, so a huge header is refused before httptools has
  buffered much more than the limit;
- headers: one over the limit, 431 and close;
- time: a connection (or, after a response, the next request's first byte) has
  `header_timeout` seconds to finish its headers, then 408 and close; a body still arriving
  `body_timeout` seconds (plus a grace second) after its headers closes the connection
  (orderly/body_limit.py answers the app's slow reads with a 408 before that).

A refusal closes the connection while the client may still be sending (a 50 MB body). Closing
a socket with unread data makes the kernel send a reset, which destroys the answer in the
client's receive buffer before the client reads it (measured: every 413 lost to a client that
writes before it reads). So such a close lingers, as nginx's does: the answer is sent, then the
write side is shut, and whatever still arrives is discarded unparsed until the client closes,
for at most LINGER seconds.

uvicorn writes a response's status line and headers, then its body, in two writes: two sends
on the socket, and a client (wrk, a browser) woken twice for one answer. The transport holds a
response's head until the body's first write, in the same turn of the event loop, and sends
both at once; a head whose body does not follow in that turn (a streamed response, a HEAD
request) is sent by itself in the next turn, or earlier when the response completes or the
connection closes. What reaches the socket, and in which order, is unchanged.

It reaches into uvicorn's protocol (its callbacks, `send_400_response`, `cycle`): pinned with
uvicorn <0.55 in pyproject.toml; tests/api/test_transport_limits.py also runs the unchanged
protocol over the same requests and compares the ordinary answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from orderly.limit_responses import raw_limit_response
from orderly.limit_settings import TransportLimits

HEADER_BYTES = "headerBytes"
HEADER_COUNT = "headerCount"
HEADER_TIMEOUT = "headerTimeout"
_BODY_GRACE = 1.0  # seconds after body_timeout: the app's 408 goes first
LINGER = 2.0  # seconds a refused connection keeps discarding what its client still sends


class HeaderLimitError(Exception):
    """Raised inside a parser callback to stop parsing a refused request."""


class _LingeringTransport:
    """The transport as uvicorn's protocol and request cycle see it: `close()` lingers while a
    request is still arriving (see the module docstring); everything else is the transport's."""

    def __init__(self, transport: asyncio.Transport, protocol: LimitedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._held: bytes | None = None  # a response's head, waiting for its body (see the module docstring)
        self._head_of: object = None  # the request cycle whose head has been written
        self.pause_reading = transport.pause_reading  # the hot calls skip __getattr__
        self.resume_reading = transport.resume_reading

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
            return
        cycle = self._protocol.cycle
        if cycle is not None and cycle is not self._head_of and cycle.response_started and not cycle.response_complete:
            self._head_of = cycle  # uvicorn's first write after a response starts is its head
            self._held = data
            self._protocol.loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head now."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._protocol.close_connection()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol refusing oversized or slow request heads (see the module docstring)."""

    limits: TransportLimits = TransportLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # chunks received while the head was still incomplete
        self._heads_completed = 0
        self._parsed_bytes = 0  # the request line and the headers httptools has handed over
        self._head_count = 0
        self._reading_head = True
        self._refused = False
        self._in_message = False
        self.lingering = False
        self._raw: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None  # due at _timer_at, never after the deadline
        self._timer_at = 0.0
        self._deadline: float | None = None  # when _on_deadline runs, unless disarmed before
        self._on_deadline: Callable[[], None] | None = None

    @classmethod
    def with_limits(cls, limits: TransportLimits) -> type[LimitedHttpToolsProtocol]:
        """This protocol class bound to the given limits (uvicorn takes a class)."""
        return type(cls.__name__, (cls,), {"limits": limits})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._raw = transport
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._arm(self.limits.header_timeout, self._head_timed_out)

    def close_connection(self) -> None:
        """Close now, or linger when the request is still arriving."""
        if self._in_message or self._refused:
            self._linger()
        elif self._raw is not None:
            self._raw.close()

    def eof_received(self) -> None:
        # The client finished sending: an ordinary half-close, or the end of a linger.
        if self.lingering and self._raw is not None:
            self._raw.close()
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        if isinstance(self.transport, _LingeringTransport):
            self.transport.flush()  # a HEAD response's head: before the next pipelined request runs
        super().on_response_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused or self.lingering:
            return  # discarded unparsed
        if self._reading_head and self._deadline is None:
            self._arm(self.limits.header_timeout, self._head_timed_out)
        head_before, heads_before = self._reading_head, self._heads_completed
        super().data_received(data)
        # Headers still incomplete after this chunk, and no head completed in it: all of it belongs
        # to the head (httptools buffers a header until its end, so the callbacks alone would see it
        # too late). A chunk that completed a message (its body included) is not counted: a
        # pipelined head begun in it is counted by its parsed parts and from the next chunk on.
        if head_before and self._reading_head and self._heads_completed == heads_before and not self._refused:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.header_bytes:
                self._refuse(431, HEADER_BYTES, self._bytes_message())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes, self._parsed_bytes, self._head_count, self._reading_head = 0, 16, 0, True
        self._in_message = True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_count += 1
        if self._head_count > self.limits.header_count:
            self._refuse(431, HEADER_COUNT, f"A request may carry at most {self.limits.header_count} headers")
            raise HeaderLimitError
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._heads_completed += 1
        self._disarm()
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._arm(self.limits.body_timeout + _BODY_GRACE, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_head = True  # whatever arrives next starts the next request
        self._in_message = False
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop_timer()
        self._in_message = False
        if self._raw is not None:
            self.transport = self._raw  # the WebSocket protocol takes the plain transport
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a refusal has answered already; this is the parser stopping
            super().send_400_response(msg)

    def _count_head(self, size: int) -> None:
        # Both counts stay below the head's real size: each is checked on its own.
        self._parsed_bytes += size
        if self._parsed_bytes > self.limits.header_bytes and not self._refused:
            self._refuse(431, HEADER_BYTES, self._bytes_message())
            raise HeaderLimitError

    def _bytes_message(self) -> str:
        return f"The request's headers may take at most {self.limits.header_bytes} bytes"

    def _head_timed_out(self) -> None:
        if self._reading_head and not self._refused:
            self._refuse(408, HEADER_TIMEOUT, f"The request's headers must arrive within {self.limits.header_timeout:g} s")

    def _body_timed_out(self) -> None:
        if self._raw is not None:
            self._raw.close()

    def _refuse(self, status: int, limit: str, message: str) -> None:
        if self.transport.is_closing():
            return
        self._refused = True
        self.transport.write(raw_limit_response(status, limit, message))
        self._linger()

    def _linger(self) -> None:
        raw = self._raw
        if self.lingering or raw is None or raw.is_closing():
            return
        self.lingering = True
        if isinstance(self.transport, _LingeringTransport):
            self.transport.flush()
        self._arm(LINGER, raw.close)
        if raw.can_write_eof():
            raw.write_eof()  # after the answer: FIN, and no reset while the client still sends
        raw.resume_reading()

    # One deadline at a time (the head's, the body's, the linger's), kept by a lazy timer: arming
    # and disarming only set the deadline, and the timer is moved only when a deadline comes before
    # it. A timer that finds its deadline later (a newer request's) waits again for the rest; one
    # that finds none stops. On a kept-alive connection that is one timer per timeout period instead
    # of two call_later and two cancels per request (about 5 % of an order read's samples).
    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        deadline = self.loop.time() + delay
        self._deadline, self._on_deadline = deadline, callback
        if self._timer is None or self._timer_at > deadline:
            self._schedule(deadline)

    def _disarm(self) -> None:
        self._deadline = self._on_deadline = None

    def _stop_timer(self) -> None:
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._deadline_reached)

    def _deadline_reached(self) -> None:
        self._timer = None
        deadline, callback = self._deadline, self._on_deadline
        if deadline is None or callback is None:
            return
        if self.loop.time() < deadline:
            self._schedule(deadline)
            return
        self._disarm()
        callback()
