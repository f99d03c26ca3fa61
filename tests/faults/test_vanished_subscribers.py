"""Subscribers that connect, subscribe and vanish without closing leak nothing: no tracker
listener, no bus inbox, no task, no extra Redis subscription."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from orderly.settings import Settings
from tests.api.operations import CREATE, order_input
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, websocket
from tests.support.server import running_server

SUBSCRIPTIONS = [
    ("subscription($id: ID!) { orderUpdated(orderId: $id) { version } }", {}),
    ("subscription($id: ID!) { orderProjected(orderId: $id, minVersion: 99) { version } }", {}),
    ("subscription($p: Position!) { projectionCaughtUp(name: \"order_views\", position: $p) { position } }",
     {"p": 10**9}),
]


async def test_vanished_websocket_clients_leave_nothing_behind(postgres_url: str, redis_url: str) -> None:
    settings = Settings(database_url=postgres_url, redis_url=redis_url, bus_namespace=f"t-{uuid.uuid4().hex}")
    redis = aioredis.Redis.from_url(redis_url)
    async with running_server(settings) as api:
        tracker = api.container.tracker
        assert tracker is not None
        order_id = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"]
        await asyncio.sleep(0.3)
        baseline = (tracker.listener_count(), api.container.bus.subscriber_count(), len(asyncio.all_tasks()))
        patterns = await redis.execute_command("PUBSUB", "NUMPAT")

        for round_number in range(6):
            protocol = TRANSPORT_WS if round_number % 2 else LEGACY_WS
            async with websocket(api.url, protocol) as ws:
                for query, variables in SUBSCRIPTIONS:
                    await ws.subscribe(query, {"id": order_id, **variables})
                await asyncio.sleep(0.2)
                assert tracker.listener_count() > baseline[0]
                ws.socket.transport.abort()

        current = baseline
        for _ in range(100):
            current = (tracker.listener_count(), api.container.bus.subscriber_count(), len(asyncio.all_tasks()))
            if current[0] == baseline[0] and current[1] == baseline[1] and current[2] <= baseline[2]:
                break
            await asyncio.sleep(0.05)
        assert current[:2] == baseline[:2]
        assert current[2] <= baseline[2]
        assert await redis.execute_command("PUBSUB", "NUMPAT") == patterns
    await redis.aclose()
