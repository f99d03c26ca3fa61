"""Run the schema in process as a given principal, over a real server's services (both backends)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from strawberry.types import ExecutionResult

from orderly.auth.settings import AuthSettings
from orderly.auth.tokens import issue_token
from orderly.settings import Settings
from resolvers.graphql_schema import build_schema
from schema.context import Context
from schema.loaders import build_loaders
from schema.principal import Principal, Role
from tests.support.graphql_client import GraphQLWebSocket
from tests.support.server import RunningServer, server_settings

SCHEMA = build_schema()


def customer(name: str | None = None) -> Principal:
    """A customer whose customer id is its subject (the default customer claim)."""
    name = name or f"cust-{uuid.uuid4().hex[:8]}"
    return Principal(subject=name, roles=frozenset({Role.CUSTOMER}), customer_id=name)


def staff(*roles: Role) -> Principal:
    """A staff member (or admin), who is no customer."""
    return Principal(subject=f"staff-{uuid.uuid4().hex[:8]}", roles=frozenset(roles or {Role.STAFF}))


def context(server: RunningServer, principal: Principal) -> Context:
    """A context as the transport builds it for this principal."""
    services = server.container.services
    assert services is not None
    return Context(services=services, loaders=build_loaders(services.customers, cache=True), principal=principal)


async def execute(
    server: RunningServer, principal: Principal, document: str, variables: dict[str, Any] | None = None
) -> ExecutionResult:
    """A query or mutation's result, errors with their contract codes."""
    return await SCHEMA.execute(document, variable_values=variables, context_value=context(server, principal))


def codes(result: ExecutionResult) -> list[str]:
    """The extensions.code of each error."""
    return [str((error.extensions or {}).get("code")) for error in result.errors or []]


@asynccontextmanager
async def subscription(
    server: RunningServer, principal: Principal, document: str, variables: dict[str, Any] | None = None
) -> AsyncIterator[Any]:
    """The subscription's stream of results, closed on exit."""
    stream = await SCHEMA.subscribe(document, variable_values=variables, context_value=context(server, principal))
    try:
        yield stream
    finally:
        await stream.aclose()


async def subscribe_first(
    server: RunningServer,
    principal: Principal,
    document: str,
    variables: dict[str, Any] | None = None,
    timeout: float = 10.0,
) -> ExecutionResult:
    """The subscription's first result (data or errors)."""
    async with subscription(server, principal, document, variables) as stream:
        return await asyncio.wait_for(anext(stream), timeout)  # type: ignore[no-any-return]


SECRET = "test-secret-for-authorization-tests-0123456789"


def bearer(subject: str, *roles: str, ttl: float = 600) -> dict[str, str]:
    """HTTP headers, or a connection_init payload, carrying a fresh token for the subject."""
    return {"Authorization": f"Bearer {issue_token(SECRET, subject=subject, roles=roles, ttl=ttl)}"}


def auth_settings(database_url: str) -> Settings:
    """Test-server settings with authentication on (HS256 with SECRET)."""
    return server_settings(database_url, auth=AuthSettings(jwt_secret=SECRET))


@asynccontextmanager
async def authed_websocket(url: str, protocol: str, headers: dict[str, str]) -> AsyncIterator[GraphQLWebSocket]:
    """A WebSocket whose connection_init carries the token, acknowledged (tests.support.graphql_client's handshake)."""
    async with websockets.connect(url.replace("http://", "ws://", 1), subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": headers}))
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if message["type"] == "connection_ack":
                break
            assert message["type"] in {"ka", "ping"}, message
        yield GraphQLWebSocket(socket, protocol)
