"""A bus that drops and duplicates messages only delays: read models stay exact and
subscriptions still complete."""

from __future__ import annotations

import asyncio
import random
import uuid
from contextlib import AbstractAsyncContextManager

from eventstore.bus import Subscription
from eventstore.local_bus import InProcessBus
from eventstore.messages import Notice
from tests.api.operations import ADD_ITEM, CANCEL, CREATE, order_input
from tests.support.graphql_client import TRANSPORT_WS, websocket

ORDER_PROJECTED = """
subscription($id: ID!, $v: Int!) { orderProjected(orderId: $id, minVersion: $v, timeoutMs: 15000) { version } }
"""
SUMMARY = """
query($c: ID!) { customer(customerId: $c) { orderCount openOrderCount cancelledOrderCount lifetimeValue } }
"""


class LossyBus:
    """The in-process bus, but every notice is dropped, duplicated or delivered at random."""

    def __init__(self, seed: int) -> None:
        self._inner = InProcessBus()
        self._random = random.Random(seed)
        self.dropped = 0
        self.duplicated = 0

    async def start(self) -> None:
        await self._inner.start()

    async def close(self) -> None:
        await self._inner.close()

    async def publish(self, channel: str, notice: Notice) -> None:
        roll = self._random.random()
        if roll < 0.4:
            self.dropped += 1
            return
        await self._inner.publish(channel, notice)
        if roll > 0.7:
            self.duplicated += 1
            await self._inner.publish(channel, notice)

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]:
        return self._inner.subscribe(*channels)

    def subscriber_count(self) -> int:
        return self._inner.subscriber_count()

    def is_healthy(self) -> bool:
        return True


async def test_dropped_and_duplicated_notices_lose_and_double_count_nothing(server_factory) -> None:  # type: ignore[no-untyped-def]
    bus = LossyBus(seed=7)
    customer = f"lossy-{uuid.uuid4().hex[:8]}"
    async with server_factory(overrides={"bus": bus}, poll_interval=0.2) as api:
        orders = []
        for _ in range(12):
            orders.append((await api.gql.data(CREATE, {"input": order_input(customerId=customer)}))["createOrder"])
        for created in orders[:4]:
            await api.gql.data(ADD_ITEM, {"input": {
                "orderId": created["orderId"], "productId": "extra", "quantity": 1, "price": "5"}})
        for created in orders[4:7]:
            await api.gql.data(CANCEL, {"input": {"orderId": created["orderId"], "reason": "no"}})

        async with websocket(api.url, TRANSPORT_WS) as ws:
            subscriptions = [
                await ws.subscribe(ORDER_PROJECTED, {"id": created["orderId"], "v": 2}) for created in orders[:7]
            ]
            versions = []
            for subscription in subscriptions:
                kind, payload = await subscription.next_message(timeout=15)
                assert kind == "next", payload
                versions.append(payload["data"]["orderProjected"]["version"])
        assert versions == [2] * 7

        expected = {"orderCount": 12, "openOrderCount": 9, "cancelledOrderCount": 3, "lifetimeValue": "245.00"}
        summary = None
        for _ in range(150):
            summary = (await api.gql.data(SUMMARY, {"c": customer}))["customer"]
            if summary == expected:
                break
            await asyncio.sleep(0.05)
        assert summary == expected
    assert bus.dropped > 0 and bus.duplicated > 0
