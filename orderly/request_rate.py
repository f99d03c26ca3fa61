"""The rate limit over HTTP: each GraphQL request takes a token from its principal's bucket;
without one it is answered 429 with Retry-After and a LIMIT_EXCEEDED error, before its body is read
(orderly/transport_guards.py: GuardLayer). Here: whose bucket a request takes from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.types import Scope

from orderly.rate_limit import principal_key
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
