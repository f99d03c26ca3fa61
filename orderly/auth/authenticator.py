"""Who sends a request: an HTTP Authorization header or a WebSocket connection_init payload in,
a Principal out. With authentication off every caller is OPEN."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping

from orderly.auth.keys import key_source
from orderly.auth.settings import AuthSettings
from orderly.auth.tokens import TokenVerifier
from schema.errors import UnauthenticatedError
from schema.principal import OPEN, Principal

MISSING = "Authentication required: send Authorization: Bearer <token>"
MISSING_ON_SOCKET = "Authentication required: put Authorization: Bearer <token> in the connection_init payload"
NOT_BEARER = "The Authorization header must be: Bearer <token>"
# Stands on a context until its request or connection has authenticated: no role, so no policy
# lets it do anything. HTTP requests that run nothing (GraphiQL's page, a refused method) and
# WebSockets before their connection_init keep it.
NOBODY = Principal(subject=None, roles=frozenset(), authenticated=False)
VERIFIED_CACHE_SIZE = 1024
VERIFIED_CACHE_SECONDS = 60.0


class Authenticator:
    """Verifies bearer tokens when authentication is on; answers OPEN when it is off."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.enabled = settings.enabled
        self._verifier = TokenVerifier(settings, key_source(settings)) if self.enabled else None
        # token -> (principal, when verified): a client sends the same token with every request,
        # and the rate limit and the view both ask. Only valid tokens enter; an entry serves for
        # a minute at most and never past the token's own deadline.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def from_header(self, authorization: str | None, *, missing: str = MISSING) -> Principal:
        """The principal of an `Authorization: Bearer <token>` value; UnauthenticatedError if it proves none."""
        if self._verifier is None:
            return OPEN
        if authorization is None or not authorization.strip():
            raise UnauthenticatedError(missing)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise UnauthenticatedError(NOT_BEARER)
        cached = self._verified.get(token)
        if cached is not None and time.monotonic() - cached[1] < VERIFIED_CACHE_SECONDS and not self.expired(cached[0]):
            return cached[0]
        principal = await self._verifier.verify(token)
        self._verified[token] = (principal, time.monotonic())
        self._verified.move_to_end(token)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def from_connection_params(self, payload: Mapping[str, object] | None) -> Principal:
        """The principal of a connection_init payload's Authorization (or authorization) value."""
        value = None
        if payload is not None:
            value = payload.get("Authorization", payload.get("authorization"))
        if value is not None and not isinstance(value, str):
            raise UnauthenticatedError(NOT_BEARER)
        return await self.from_header(value, missing=MISSING_ON_SOCKET)

    def deadline(self, principal: Principal) -> float | None:
        """When (Unix time) the principal's token stops being accepted, leeway included; None if never."""
        if principal.expires_at is None:
            return None
        return principal.expires_at.timestamp() + self.settings.leeway

    def expired(self, principal: Principal) -> bool:
        """True once the principal's token is past its expiry (and the leeway)."""
        deadline = self.deadline(principal)
        return deadline is not None and time.time() >= deadline


DISABLED = Authenticator(AuthSettings())
