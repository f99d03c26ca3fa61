"""The rate limit over HTTP: each GraphQL request takes a token from its principal's bucket;
without one it is answered 429 with Retry-After and a LIMIT_EXCEEDED error, before its body is read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from orderly.limit_responses import send_limit_response
from orderly.rate_limit import RATE, RATE_MESSAGE, RateLimiter, principal_key
from schema.errors import UnauthenticatedError
from schema.principal import OPEN, Principal

# Whose request this is, from its scope (an authenticated subject when the edge can tell).
RequestKey = Callable[[Scope], Awaitable[str]]


async def client_key(scope: Scope) -> str:
    """The bucket of an unauthenticated request: its client's address."""
    return principal_key(OPEN, scope.get("client"))


class HeaderAuthenticator(Protocol):
    """What the key needs of orderly.auth's Authenticator."""

    enabled: bool

    async def from_header(self, authorization: str | None) -> Principal: ...


def principal_request_key(authenticator: HeaderAuthenticator) -> RequestKey:
    """Buckets by authenticated subject; a request without a valid token (refused with 401 by the
    view) is limited by its client's address."""
    if not authenticator.enabled:
        return client_key

    async def key(scope: Scope) -> str:
        header = next((value for name, value in scope["headers"] if name == b"authorization"), None)
        try:
            principal = await authenticator.from_header(None if header is None else header.decode("latin-1"))
        except UnauthenticatedError:
            principal = OPEN
        return principal_key(principal, scope.get("client"))

    return key


class RateLimitMiddleware:
    """ASGI middleware limiting HTTP requests to the given paths per principal."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, paths: frozenset[str], key: RequestKey = client_key) -> None:
        self.app = app
        self.limiter = limiter
        self.paths = paths
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            wait = await self.limiter.take(await self.key(scope))
            if wait is not None:
                await send_limit_response(send, 429, RATE, RATE_MESSAGE, retry_after=wait)
                return
        await self.app(scope, receive, send)
