"""Every WebSocket message is a text frame, in both protocols and for every kind of message.

A browser hands a binary frame over as a Blob, which the npm graphql-ws client cannot read;
the raw client here sees str for a text frame and bytes for a binary one, so a change of JSON
encoder cannot bring binary frames back unnoticed.
"""

from __future__ import annotations

import pytest

from tests.api.operations import CREATE, order_input
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS
from tests.support.raw_websocket import RawSocket, raw_websocket, tuned_server
from tests.support.server import RunningServer, server_settings

PROJECTED = "subscription($id: ID!) { orderProjected(orderId: $id, minVersion: 1) { orderId version } }"


async def projected_order(api: RunningServer) -> str:
    """An order id whose view is already at version 1."""
    order_id = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"]
    await api.gql.data("query($id: ID!) { order(orderId: $id, minVersion: 1) { version } }", {"id": order_id})
    return str(order_id)


async def kinds_until_complete(socket: RawSocket, operation_id: str) -> list[str]:
    """The types of this operation's messages up to its complete, each checked to be a text frame."""
    kinds = []
    while not kinds or kinds[-1] not in {"complete", "error"}:
        message = await socket.text_message()
        if message.get("id") == operation_id:
            kinds.append(message["type"])
    return kinds


async def test_graphql_transport_ws_sends_only_text_frames(api: RunningServer) -> None:
    order_id = await projected_order(api)
    async with raw_websocket(api.url, TRANSPORT_WS) as socket:
        await socket.init()  # connection_ack
        await socket.send({"type": "ping"})
        assert (await socket.text_message())["type"] == "pong"
        payload = {"query": PROJECTED, "variables": {"id": order_id}}
        await socket.send({"id": "1", "type": "subscribe", "payload": payload})
        assert await kinds_until_complete(socket, "1") == ["next", "complete"]
        await socket.send({"id": "2", "type": "subscribe", "payload": {"query": "subscription { nope }"}})
        assert await kinds_until_complete(socket, "2") == ["error"]
        await socket.send({"id": "3", "type": "subscribe", "payload": {"query": "subscription {"}})
        assert await kinds_until_complete(socket, "3") == ["error"]


async def test_legacy_graphql_ws_sends_only_text_frames(api: RunningServer) -> None:
    order_id = await projected_order(api)
    async with raw_websocket(api.url, LEGACY_WS) as socket:
        await socket.init()  # connection_ack
        await socket.send({"id": "1", "type": "start", "payload": {"query": PROJECTED, "variables": {"id": order_id}}})
        assert await kinds_until_complete(socket, "1") == ["data", "complete"]
        await socket.send({"id": "2", "type": "start", "payload": {"query": "subscription { nope }"}})
        assert await kinds_until_complete(socket, "2") == ["error"]
        await socket.send({"id": "3", "type": "start"})
        assert await kinds_until_complete(socket, "3") == ["error"]


async def test_legacy_connection_error_before_the_close_is_a_text_frame(api: RunningServer) -> None:
    async with raw_websocket(api.url, LEGACY_WS) as socket:
        await socket.send({"type": "connection_init", "payload": "not an object"})
        assert (await socket.text_message())["type"] == "connection_error"
        await socket.closed()
    async with raw_websocket(api.url, LEGACY_WS) as socket:
        await socket.socket.send(b"binary")
        assert (await socket.text_message())["type"] == "connection_error"
        assert (await socket.closed())[0] == 4400


async def test_legacy_keep_alive_is_a_text_frame(database_url: str) -> None:
    def keep_alive(view) -> None:  # type: ignore[no-untyped-def]
        view.keep_alive, view.keep_alive_interval = True, 0.05

    async with tuned_server(server_settings(database_url), keep_alive) as url:
        async with raw_websocket(url, LEGACY_WS) as socket:
            await socket.init()
            kinds = {(await socket.text_message())["type"] for _ in range(3)}
    assert kinds == {"ka"}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_coded_limit_error_is_a_text_frame(database_url: str, protocol: str) -> None:
    def one_operation(view) -> None:  # type: ignore[no-untyped-def]
        view.max_subscriptions_per_connection = 1

    waits = "subscription($id: ID!) { orderProjected(orderId: $id, minVersion: 9, timeoutMs: 10000) { version } }"
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    async with tuned_server(server_settings(database_url), one_operation) as url:
        async with raw_websocket(url, protocol) as socket:
            await socket.init()
            for operation_id in ("1", "2"):
                await socket.send({"id": operation_id, "type": start,
                                   "payload": {"query": waits, "variables": {"id": "o-1"}}})
            message = await socket.text_message()
    assert (message["id"], message["type"]) == ("2", "error")
    error = message["payload"][0] if protocol == TRANSPORT_WS else message["payload"]
    assert error["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "subscriptionsPerConnection"}
