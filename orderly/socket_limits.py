"""WebSocket limits of one process: open sockets, and operations per principal across its sockets.

A handshake beyond `max_sockets` (or over the caller's rate) is refused before it is accepted,
with an HTTP answer (503 or 429, a GraphQL error body) where the server can send one, a plain
403 otherwise. Operations per principal are counted from the handlers' own bookkeeping (the
operations each socket is running), so an operation that ends, however it ends, stops counting
without a second record to keep in step.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from orderly.limit_responses import limit_body, limit_error, retry_seconds
from orderly.media_types import JSON
from orderly.rate_limit import RATE, RATE_MESSAGE, RateLimiter, principal_key
from schema.principal import OPEN

WS_CONNECTIONS = "wsConnections"
SUBSCRIPTIONS_PER_PRINCIPAL = "subscriptionsPerPrincipal"


class SocketLimits:
    """Counts this process's open sockets and each principal's running operations."""

    def __init__(self, *, max_sockets: int, max_operations_per_principal: int) -> None:
        self.max_sockets = max_sockets
        self.max_operations_per_principal = max_operations_per_principal
        self.open_sockets = 0
        self._operations: dict[str, dict[int, Sized]] = {}

    def operations_of(self, key: str) -> int:
        """How many operations the principal runs now, over all of this process's sockets."""
        return sum(len(running) for running in self._operations.get(key, {}).values())

    def register(self, key: str, socket_id: int, running: Sized) -> None:
        """Count a socket's operations (`running` is its live operation table) towards key."""
        self._operations.setdefault(key, {})[socket_id] = running

    def unregister(self, key: str, socket_id: int) -> None:
        """The socket is closed: its operations no longer count."""
        sockets = self._operations.get(key)
        if sockets is not None:
            sockets.pop(socket_id, None)
            if not sockets:
                del self._operations[key]


@dataclass(frozen=True)
class OperationGate:
    """What a WebSocket handler asks before it starts an operation for a principal."""

    limits: SocketLimits
    limiter: RateLimiter

    async def refusal(self, key: str) -> dict[str, object] | None:
        """The LIMIT_EXCEEDED error refusing the principal's next operation, or None to run it."""
        most = self.limits.max_operations_per_principal
        if self.limits.operations_of(key) >= most:
            message = f"Subscription limit reached: at most {most} operations at a time per caller"
            return limit_error(SUBSCRIPTIONS_PER_PRINCIPAL, message)
        wait = await self.limiter.take(key)
        if wait is not None:
            return limit_error(RATE, RATE_MESSAGE, retry_after=wait)
        return None


class SocketLimitMiddleware:
    """ASGI middleware refusing WebSocket handshakes beyond the process's socket limit or the caller's rate."""

    def __init__(self, app: ASGIApp, *, limits: SocketLimits, limiter: RateLimiter) -> None:
        self.app = app
        self.limits = limits
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if self.limits.open_sockets >= self.limits.max_sockets:
            message = f"This server holds at most {self.limits.max_sockets} WebSockets; retry later"
            await _refuse_handshake(scope, send, 503, WS_CONNECTIONS, message, retry_after=1.0)
            return
        wait = await self.limiter.take(principal_key(OPEN, scope.get("client")))
        if wait is not None:
            await _refuse_handshake(scope, send, 429, RATE, RATE_MESSAGE, retry_after=wait)
            return
        self.limits.open_sockets += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.limits.open_sockets -= 1


async def _refuse_handshake(scope: Scope, send: Send, status: int, limit: str, message: str, *, retry_after: float) -> None:
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1013})  # the server answers the handshake with 403
        return
    body = limit_body(limit, message, retry_after=retry_after)
    headers = [
        (b"content-type", JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_seconds(retry_after)).encode()),
    ]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})
