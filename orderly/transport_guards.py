"""The transport limits wired into one app: its middleware, the view's WebSocket limits, and the rate limiter to close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from orderly.body_limit import BodyLimitMiddleware
from orderly.graphql_view import OrderlyGraphQL
from orderly.limit_responses import send_limit_response
from orderly.rate_limit import RATE, RATE_MESSAGE, RateLimiter
from orderly.request_rate import RequestKey, principal_request_key
from orderly.settings import Settings
from orderly.socket_limits import OperationGate, SocketLimitMiddleware, SocketLimits

GRAPHQL_PATHS = frozenset({"/graphql"})


@dataclass(frozen=True)
class TransportGuards:
    """Everything the app needs from the transport limits."""

    middleware: list[Middleware]
    limiter: RateLimiter
    sockets: SocketLimits

    @classmethod
    def build(cls, settings: Settings, graphql: OrderlyGraphQL) -> TransportGuards:
        """The guard layer (sockets, then rate, then body) and the view's WebSocket limits set."""
        limits = settings.transport_limits
        limiter = RateLimiter.build(
            limits.rate, limits.rate_burst, settings.redis_url, settings.namespace, lease=limits.rate_lease
        )
        sockets = SocketLimits(
            max_sockets=limits.ws_connections, max_operations_per_principal=limits.ws_subscriptions_per_principal
        )
        graphql.connection_init_wait_timeout = timedelta(seconds=limits.ws_init_timeout)
        graphql.max_subscriptions_per_connection = limits.ws_subscriptions
        graphql.operation_gate = OperationGate(sockets, limiter)  # type: ignore[attr-defined]
        middleware = [
            Middleware(
                GuardLayer,
                sockets=sockets,
                limiter=limiter,
                rate_key=principal_request_key(graphql.authenticator),
                body_bytes=limits.body_bytes,
                body_timeout=limits.body_timeout,
            )
        ]
        return cls(middleware=middleware, limiter=limiter, sockets=sockets)

    async def close(self) -> None:
        """Close the rate limiter's Redis connection."""
        await self.limiter.close()


class GuardLayer:
    """The socket limit, then the rate limit, then the body limit, as one ASGI layer.

    Each of the three acts on one kind of scope and hands every other to the next untouched
    (the socket limit: WebSocket handshakes; the rate and body limits: HTTP requests), so
    running, for each scope, only the ones that act on it, in that order, is what the stack
    of three did, with two layers fewer on an HTTP request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        sockets: SocketLimits,
        limiter: RateLimiter,
        rate_key: RequestKey,
        body_bytes: int,
        body_timeout: float,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.rate_key = rate_key
        self.body = BodyLimitMiddleware(app, max_bytes=body_bytes, timeout=body_timeout)
        self.sockets = SocketLimitMiddleware(app, limits=sockets, limiter=limiter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if scope["path"] in GRAPHQL_PATHS:  # the rate limit (orderly/request_rate.py)
                key = await self.rate_key(scope)
                wait = None if self.limiter.take_held(key) else await self.limiter.take(key)
                if wait is not None:
                    await send_limit_response(send, 429, RATE, RATE_MESSAGE, retry_after=wait)
                    return
            await self.body(scope, receive, send)
        elif kind == "websocket":
            await self.sockets(scope, receive, send)
        else:
            await self.app(scope, receive, send)
