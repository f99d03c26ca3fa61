"""The transport limits wired into one app: its middleware, the view's WebSocket limits, and the rate limiter to close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.middleware import Middleware

from orderly.body_limit import BodyLimitMiddleware
from orderly.graphql_view import OrderlyGraphQL
from orderly.rate_limit import RateLimiter
from orderly.request_rate import RateLimitMiddleware, principal_request_key
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
        """Middleware in order (sockets, then rate, then body) and the view's WebSocket limits set."""
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
            Middleware(SocketLimitMiddleware, limits=sockets, limiter=limiter),
            Middleware(
                RateLimitMiddleware, limiter=limiter, paths=GRAPHQL_PATHS, key=principal_request_key(graphql.authenticator)
            ),
            Middleware(BodyLimitMiddleware, max_bytes=limits.body_bytes, timeout=limits.body_timeout),
        ]
        return cls(middleware=middleware, limiter=limiter, sockets=sockets)

    async def close(self) -> None:
        """Close the rate limiter's Redis connection."""
        await self.limiter.close()
