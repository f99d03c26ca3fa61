"""Many subscriptions on one socket: each gets its order's versions, and closing them (one by
one, or with the socket) leaves nothing registered in the tracker's fan-out."""

from __future__ import annotations

import asyncio

import pytest

from resolvers.subscription_tally import SUBSCRIPTIONS
from tests.api.operations import ADD_ITEM, CREATE, order_input
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, websocket
from tests.support.server import RunningServer

ORDER_UPDATED = "subscription($id: ID!) { orderUpdated(orderId: $id) { orderId version itemCount } }"
ORDERS = 30


async def _registry_empties(api: RunningServer, tasks_before: int | None = None) -> tuple[int, int, int]:
    """Open listeners, listened streams and tasks beyond tasks_before, once all are 0 (or after 10 s)."""
    tracker = api.container.tracker
    assert tracker is not None
    for _ in range(200):
        extra_tasks = 0 if tasks_before is None else max(0, len(asyncio.all_tasks()) - tasks_before)
        state = (tracker.listener_count(), tracker.listened_streams(), extra_tasks)
        if state == (0, 0, 0) and SUBSCRIPTIONS.open == 0:
            break
        await asyncio.sleep(0.05)
    return state


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("close", ["socket", "each"])
async def test_many_subscriptions_on_one_socket_are_delivered_and_released(
    api: RunningServer, protocol: str, close: str
) -> None:
    tracker = api.container.tracker
    assert tracker is not None
    order_ids = [(await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"] for _ in range(ORDERS)]
    for order_id in order_ids:
        await api.gql.data("query($id: ID!) { order(orderId: $id, minVersion: 1, waitMs: 5000) { version } }",
                           {"id": order_id})
    tasks_before = len(asyncio.all_tasks())
    assert (tracker.listener_count(), tracker.listened_streams(), SUBSCRIPTIONS.open) == (0, 0, 0)
    closed_before = SUBSCRIPTIONS.closed
    async with websocket(api.url, protocol) as ws:
        subscriptions = {order_id: await ws.subscribe(ORDER_UPDATED, {"id": order_id}) for order_id in order_ids}
        for order_id, subscription in subscriptions.items():
            kind, payload = await subscription.next_message()
            assert kind == "next", payload
            assert payload["data"]["orderUpdated"] == {"orderId": order_id, "version": 1, "itemCount": 2}
        assert (tracker.listener_count(), tracker.listened_streams()) == (ORDERS, ORDERS)
        assert SUBSCRIPTIONS.open == ORDERS  # what the heap freezer counts

        for order_id in order_ids[::2]:
            await api.gql.data(ADD_ITEM, {"input": {"orderId": order_id, "productId": "p", "quantity": 1, "price": "1"}})
        for order_id in order_ids[::2]:
            kind, payload = await subscriptions[order_id].next_message()
            assert kind == "next", payload
            assert payload["data"]["orderUpdated"] == {"orderId": order_id, "version": 2, "itemCount": 3}
        for order_id in order_ids[1::2]:  # orders nobody changed: nothing for their subscriptions
            with pytest.raises(TimeoutError):
                await subscriptions[order_id].next_message(timeout=0.05)

        if close == "each":
            for subscription in subscriptions.values():
                await subscription.stop()
            assert await _registry_empties(api) == (0, 0, 0)
    assert await _registry_empties(api, tasks_before) == (0, 0, 0)
    assert (SUBSCRIPTIONS.open, SUBSCRIPTIONS.closed - closed_before) == (0, ORDERS)
