"""PostgreSQL unreachable: commands fail fast with SERVICE_UNAVAILABLE, nothing half-written,
and the server recovers by itself when the database is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from orderly.settings import Settings
from tests.api.operations import CREATE, ORDER, order_input
from tests.support.server import RunningServer, running_server
from tests.support.tcp_proxy import TcpProxy

EVENTS = "query($id: ID!) { orderEvents(orderId: $id) { version } }"


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.cut()


@pytest.fixture
async def api(postgres_url: str, proxy: TcpProxy) -> AsyncIterator[RunningServer]:
    through_proxy = make_url(postgres_url).set(port=proxy.port).render_as_string(hide_password=False)
    settings = Settings(database_url=through_proxy, poll_interval=0.2, db_pool_timeout=2.0)
    async with running_server(settings) as server:
        yield server


async def test_an_outage_is_service_unavailable_and_heals_by_itself(api: RunningServer, proxy: TcpProxy) -> None:
    before = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]

    await proxy.cut()
    order_id = str(uuid.uuid4())
    started = time.monotonic()
    body = await api.gql.execute(CREATE, {"input": order_input(orderId=order_id)})
    elapsed = time.monotonic() - started
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "retry" in body["errors"][0]["message"].lower()
    assert elapsed < 5, f"took {elapsed:.1f}s to fail"
    query_body = await api.gql.execute(ORDER, {"id": before["orderId"]})
    assert query_body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    ready = await api.http.get(f"{api.base_url}/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
    assert (await api.http.get(f"{api.base_url}/healthz")).status_code == 200

    await proxy.restore()
    recovered = None
    for _ in range(100):
        body = await api.gql.execute(CREATE, {"input": order_input(orderId=order_id)})
        if "errors" not in body:
            recovered = body["data"]["createOrder"]
            break
        assert body["errors"][0]["extensions"]["code"] in {"SERVICE_UNAVAILABLE", "CONCURRENCY_CONFLICT"}
        await asyncio.sleep(0.1)
    assert recovered is not None, "the server did not recover"
    # The command refused during the outage wrote nothing: the order has exactly one event.
    assert [event["version"] for event in (await api.gql.data(EVENTS, {"id": order_id}))["orderEvents"]] == [1]
    assert (await api.http.get(f"{api.base_url}/readyz")).status_code == 200
    view = (await api.gql.data(ORDER, {"id": order_id, "minVersion": 1, "waitMs": 10000}))["order"]
    assert view is not None and view["version"] == 1
