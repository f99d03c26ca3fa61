"""WebSocket limits over both protocols against a real server: connection_init in time, operations
per connection and per principal (across sockets), open sockets per process, the rate limit on
new operations. Subscriptions read the read models: both backends."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from orderly.limit_settings import TransportLimits
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS
from tests.support.hostile import ANSWER_WITHIN, while_served
from tests.support.raw_websocket import RawSocket, raw_websocket
from tests.support.server import RunningServer

PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
WAITS = "subscription($id: ID!) { orderUpdated(orderId: $id) { version } }"


def start(protocol: str, operation_id: str) -> dict[str, Any]:
    """A subscription that stays open (an order nobody has made)."""
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    return {"id": operation_id, "type": kind, "payload": {"query": WAITS, "variables": {"id": str(uuid.uuid4())}}}


def error_of(protocol: str, message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "error", message
    payload = message["payload"]
    return payload[0] if protocol == TRANSPORT_WS else payload  # type: ignore[no-any-return]


async def errors_within(socket: RawSocket, seconds: float, *, enough: int | None = None) -> list[dict[str, Any]]:
    """Every message the socket receives within seconds (ka/ping/pong aside), or the first `enough`."""
    messages: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0 and len(messages) != enough:
        try:
            message = await socket.text_message(timeout=left)
        except TimeoutError:
            break
        if message["type"] not in {"ka", "ping", "pong"}:
            messages.append(message)
    return messages


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_200_sockets_that_never_send_connection_init_are_closed(server_factory: Any, protocol: str) -> None:
    async with server_factory(transport_limits=TransportLimits(ws_init_timeout=1.0)) as api:

        async def silent_sockets() -> list[tuple[int | None, float]]:
            async with AsyncExitStack() as stack:
                sockets = [await stack.enter_async_context(raw_websocket(api.url, protocol)) for _ in range(200)]
                loop = asyncio.get_running_loop()
                started = loop.time()

                async def closed(socket: RawSocket) -> tuple[int | None, float]:
                    if protocol == LEGACY_WS:
                        error = (await socket.text_message())["payload"]
                        assert error["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "wsInitTimeout"}
                    code, _ = await socket.closed(timeout=10)
                    return code, loop.time() - started

                return await asyncio.gather(*(closed(socket) for socket in sockets))

        results = await while_served(api, silent_sockets())
    assert {code for code, _ in results} == {4408}
    assert max(seconds for _, seconds in results) < 1.0 + ANSWER_WITHIN


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_1000_subscriptions_on_one_socket_are_refused_beyond_the_limit(api: RunningServer, protocol: str) -> None:
    limit = TransportLimits().ws_subscriptions

    async def thousand() -> list[dict[str, Any]]:
        async with raw_websocket(api.url, protocol) as socket:
            await socket.init()
            for number in range(1000):
                await socket.send(start(protocol, str(number)))
            refused = await errors_within(socket, 20.0, enough=1000 - limit)
            refused += await errors_within(socket, 0.5)  # and nothing more
            # The connection still serves: stop one, and one more starts.
            await socket.send({"id": "0", "type": "complete" if protocol == TRANSPORT_WS else "stop"})
            await asyncio.sleep(0.2)
            await socket.send(start(protocol, "extra"))
            later = [m for m in await errors_within(socket, 1.0) if m.get("id") == "extra"]
            assert later == [], later
            return refused

    refused = await while_served(api, thousand())
    assert len(refused) == 1000 - limit
    assert {message["id"] for message in refused} == {str(number) for number in range(limit, 1000)}
    for message in refused:
        assert error_of(protocol, message)["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "subscriptionsPerConnection"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_operations_per_principal_are_counted_across_sockets(server_factory: Any, protocol: str) -> None:
    # Auth is off: the principal is the client's address, the same for both sockets.
    async with server_factory(transport_limits=TransportLimits(ws_subscriptions_per_principal=3)) as api:
        async with raw_websocket(api.url, protocol) as second:
            await second.init()
            async with raw_websocket(api.url, protocol) as first:
                await first.init()
                for number in range(2):
                    await first.send(start(protocol, f"a{number}"))
                await second.send(start(protocol, "b0"))
                await second.send(start(protocol, "b1"))
                (refused,) = await errors_within(second, 2.0)
                assert refused["id"] == "b1"
                assert error_of(protocol, refused)["extensions"] == {
                    "code": "LIMIT_EXCEEDED", "limit": "subscriptionsPerPrincipal"}
            await asyncio.sleep(0.3)  # the first socket closed: its operations no longer count
            await second.send(start(protocol, "b2"))
            await second.send(start(protocol, "b3"))
            assert await errors_within(second, 1.0) == []


async def test_sockets_beyond_the_process_limit_are_refused_at_the_handshake(server_factory: Any) -> None:
    async with server_factory(transport_limits=TransportLimits(ws_connections=3)) as api:
        async with AsyncExitStack() as stack:
            for protocol in (TRANSPORT_WS, LEGACY_WS, TRANSPORT_WS):
                await stack.enter_async_context(raw_websocket(api.url, protocol))
            with pytest.raises(InvalidStatus) as refused:
                async with raw_websocket(api.url, LEGACY_WS):
                    pass
            response = refused.value.response
            assert response.status_code == 503
            (error,) = json.loads(response.body)["errors"]
            assert error["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "wsConnections", "retryAfter": 1}
            assert response.headers["retry-after"] == "1"
            assert (await api.http.get(f"{api.base_url}/healthz")).status_code == 200
        await asyncio.sleep(0.3)
        async with raw_websocket(api.url, TRANSPORT_WS) as socket:  # room again
            await socket.init()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_new_operations_over_the_rate_are_refused(server_factory: Any, protocol: str) -> None:
    # A burst of 3: the handshake takes one, two operations the rest; the third waits for a refill.
    async with server_factory(transport_limits=TransportLimits(rate=0.2, rate_burst=3)) as api:
        async with raw_websocket(api.url, protocol) as socket:
            await socket.init()
            for number in range(3):
                await socket.send(start(protocol, str(number)))
            (refused,) = await errors_within(socket, 2.0)
    assert refused["id"] == "2"
    error = error_of(protocol, refused)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED" and error["extensions"]["limit"] == "rate"
    assert error["extensions"]["retryAfter"] >= 1

