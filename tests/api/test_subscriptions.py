"""Subscriptions over WebSocket, in both protocols: read-your-writes confirmations."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.operations import ADD_ITEM, CREATE, SHIP, order_input
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, websocket
from tests.support.server import RunningServer

PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]

ORDER_PROJECTED = """
subscription($id: ID!, $v: Int!, $t: Int) {
  orderProjected(orderId: $id, minVersion: $v, timeoutMs: $t) { orderId version status itemCount }
}"""
ORDER_UPDATED = "subscription($id: ID!) { orderUpdated(orderId: $id) { orderId version status } }"
CAUGHT_UP = """
subscription($n: String!, $p: Position!, $t: Int) {
  projectionCaughtUp(name: $n, position: $p, timeoutMs: $t) { name position headPosition lag state }
}"""


async def create(api: RunningServer) -> dict:
    return (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_order_projected_confirms_a_write_made_after_subscribing(api: RunningServer, protocol: str) -> None:
    created = await create(api)
    order_id = created["orderId"]
    async with websocket(api.url, protocol) as ws:
        subscription = await ws.subscribe(ORDER_PROJECTED, {"id": order_id, "v": 2, "t": 10_000})
        await asyncio.sleep(0.1)
        added = (await api.gql.data(ADD_ITEM, {"input": {
            "orderId": order_id, "productId": "p", "quantity": 1, "price": "1"}}))["addOrderItem"]
        kind, payload = await subscription.next_message()
        assert kind == "next", payload
        view = payload["data"]["orderProjected"]
        assert (view["orderId"], view["version"], view["itemCount"]) == (order_id, added["version"], 3)
        assert (await subscription.next_message())[0] == "complete"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_order_projected_answers_at_once_when_already_there(api: RunningServer, protocol: str) -> None:
    created = await create(api)
    await api.gql.data("query($id: ID!) { order(orderId: $id, minVersion: 1) { version } }", {"id": created["orderId"]})
    async with websocket(api.url, protocol) as ws:
        subscription = await ws.subscribe(ORDER_PROJECTED, {"id": created["orderId"], "v": 1})
        kind, payload = await subscription.next_message(timeout=2)
        assert kind == "next" and payload["data"]["orderProjected"]["version"] == 1
        assert (await subscription.next_message())[0] == "complete"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_order_projected_times_out_with_consistency_timeout(server_factory, protocol: str) -> None:  # type: ignore[no-untyped-def]
    async with server_factory(run_projectors=False) as api:
        created = await create(api)
        async with websocket(api.url, protocol) as ws:
            subscription = await ws.subscribe(ORDER_PROJECTED, {"id": created["orderId"], "v": 1, "t": 300})
            kind, payload = await subscription.next_message(timeout=5)
    assert kind == "error"
    assert payload[0]["extensions"]["code"] == "CONSISTENCY_TIMEOUT"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_order_updated_streams_increasing_versions(api: RunningServer, protocol: str) -> None:
    created = await create(api)
    order_id = created["orderId"]
    async with websocket(api.url, protocol) as ws:
        subscription = await ws.subscribe(ORDER_UPDATED, {"id": order_id})
        versions = []
        for command, variables in [
            (ADD_ITEM, {"orderId": order_id, "productId": "p", "quantity": 1, "price": "1"}),
            (SHIP, {"orderId": order_id}),
        ]:
            await api.gql.data(command, {"input": variables})
        while not versions or versions[-1] < 3:
            kind, payload = await subscription.next_message()
            assert kind == "next", payload
            versions.append(payload["data"]["orderUpdated"]["version"])
        await subscription.stop()
    assert versions == sorted(set(versions)) and versions[-1] == 3
    assert versions[0] >= 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_projection_caught_up_waits_for_the_position(api: RunningServer, protocol: str) -> None:
    async with websocket(api.url, protocol) as ws:
        created = await create(api)
        subscription = await ws.subscribe(CAUGHT_UP, {"n": "customer_summaries", "p": created["position"], "t": 10_000})
        kind, payload = await subscription.next_message()
        assert kind == "next", payload
        status = payload["data"]["projectionCaughtUp"]
        assert status["name"] == "customer_summaries" and status["position"] >= created["position"]
        assert (await subscription.next_message())[0] == "complete"


async def test_projection_caught_up_rejects_an_unknown_projection(api: RunningServer) -> None:
    async with websocket(api.url, TRANSPORT_WS) as ws:
        subscription = await ws.subscribe(CAUGHT_UP, {"n": "nope", "p": 1})
        kind, payload = await subscription.next_message()
    assert kind == "error" and payload[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_projection_caught_up_times_out(server_factory) -> None:  # type: ignore[no-untyped-def]
    async with server_factory(run_projectors=False) as api:
        created = await create(api)
        async with websocket(api.url, TRANSPORT_WS) as ws:
            subscription = await ws.subscribe(CAUGHT_UP, {"n": "order_views", "p": created["position"], "t": 200})
            kind, payload = await subscription.next_message()
    assert kind == "error" and payload[0]["extensions"]["code"] == "CONSISTENCY_TIMEOUT"


async def test_a_vanished_subscriber_leaks_no_listener_or_task(api: RunningServer) -> None:
    tracker = api.container.tracker
    assert tracker is not None
    created = await create(api)
    await asyncio.sleep(0.2)
    tasks_before = len(asyncio.all_tasks())
    listeners_before = tracker.listener_count()
    inboxes_before = api.container.bus.subscriber_count()
    for _ in range(5):
        async with websocket(api.url, TRANSPORT_WS) as ws:
            await ws.subscribe(ORDER_UPDATED, {"id": created["orderId"]})
            await ws.subscribe(ORDER_PROJECTED, {"id": created["orderId"], "v": 99})
            await asyncio.sleep(0.2)
            assert tracker.listener_count() >= listeners_before + 2
            # Leave without "complete": drop the TCP connection as a vanished client would.
            ws.socket.transport.abort()
    for _ in range(100):
        if tracker.listener_count() == listeners_before and len(asyncio.all_tasks()) <= tasks_before:
            break
        await asyncio.sleep(0.05)
    assert tracker.listener_count() == listeners_before
    assert api.container.bus.subscriber_count() == inboxes_before
    assert len(asyncio.all_tasks()) <= tasks_before
