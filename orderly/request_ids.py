"""X-Request-ID: every HTTP request and WebSocket connection gets an id that its log lines carry.

A well-formed incoming X-Request-ID (1 to 128 characters of letters, digits and `-._:=+/`,
as load balancers and tracing proxies make them) is kept, so one id follows a request
through the proxy's logs and ours; anything else (too long, a space, a control character:
what a log injection needs) is replaced by a fresh one. The response carries the id back.
A pure ASGI middleware, outermost, so a request refused by a guard or a limit has one too.
"""

from __future__ import annotations

import itertools
import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventstore import log_context

HEADER = b"x-request-id"
_WELL_FORMED = re.compile(rb"[A-Za-z0-9\-._:=+/]{1,128}")


class FreshIds:
    """Fresh request ids: 32 hex digits, a random half per process (drawn again in a forked child)
    and a counter. uuid4 read 16 bytes from the kernel for each (a getrandom syscall per request);
    an id must be unique, not secret (a client may send its own)."""

    def __init__(self) -> None:
        self._restart()
        os.register_at_fork(after_in_child=self._restart)

    def _restart(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(int.from_bytes(os.urandom(8)))

    def __call__(self) -> str:
        """A new id."""
        return f"{self._prefix}{next(self._counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


fresh_id = FreshIds()


class RequestIds:
    """Binds request_id for the request (or the connection) and echoes it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or fresh_id()
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (HEADER, encoded)]
            await send(message)

        token = log_context.open_scope(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_context.close_scope(token)


def incoming_request_id(scope: Scope) -> str | None:
    """The client's X-Request-ID when it is well-formed, else None."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("ascii") if _WELL_FORMED.fullmatch(value) else None
    return None
