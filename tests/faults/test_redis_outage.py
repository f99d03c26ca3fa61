"""Redis stopped while writes continue: commands succeed, projections advance by the safety
poll, subscriptions still complete (later), /readyz reports the bus down until Redis is back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from orderly.settings import Settings
from tests.api.operations import CREATE, ORDER, order_input
from tests.support.graphql_client import TRANSPORT_WS, websocket
from tests.support.redis_server import PrivateRedis
from tests.support.server import RunningServer, running_server
from tests.support.services import skip_or_fail

ORDER_PROJECTED = """
subscription($id: ID!) { orderProjected(orderId: $id, minVersion: 1, timeoutMs: 15000) { orderId version } }
"""


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if not PrivateRedis.available():
        skip_or_fail("redis-server is not installed")
    redis = PrivateRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
async def api(postgres_url: str, private_redis: PrivateRedis) -> AsyncIterator[RunningServer]:
    settings = Settings(
        database_url=postgres_url, redis_url=private_redis.url, bus_namespace=f"t-{uuid.uuid4().hex}",
        poll_interval=0.3,
    )
    async with running_server(settings) as server:
        yield server


async def bus_ready(api: RunningServer, expected: bool) -> None:
    for _ in range(200):
        response = await api.http.get(f"{api.base_url}/readyz")
        if response.json()["checks"]["bus"] is expected:
            assert response.status_code == (200 if expected else 503)
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz never reported bus={expected}")


async def projected_over_websocket(api: RunningServer, order_id: str) -> dict:
    async with websocket(api.url, TRANSPORT_WS) as ws:
        subscription = await ws.subscribe(ORDER_PROJECTED, {"id": order_id})
        await asyncio.sleep(0.05)
        await api.gql.data(CREATE, {"input": order_input(orderId=order_id)})
        kind, payload = await subscription.next_message(timeout=15)
    assert kind == "next", payload
    return payload["data"]["orderProjected"]  # type: ignore[no-any-return]


async def test_writes_and_subscriptions_survive_a_redis_outage(api: RunningServer, private_redis: PrivateRedis) -> None:
    await bus_ready(api, True)
    first = str(uuid.uuid4())
    assert (await projected_over_websocket(api, first))["orderId"] == first

    private_redis.stop()
    await bus_ready(api, False)
    during = [(await api.gql.data(CREATE, {"input": order_input()}))["createOrder"] for _ in range(5)]
    for result in during:
        view = (await api.gql.data(ORDER, {"id": result["orderId"], "minVersion": 1, "waitMs": 10000}))["order"]
        assert view is not None and view["version"] == 1
    second = str(uuid.uuid4())
    assert (await projected_over_websocket(api, second))["orderId"] == second

    private_redis.start()
    await bus_ready(api, True)
    third = str(uuid.uuid4())
    assert (await projected_over_websocket(api, third))["orderId"] == third
