"""Told "projected at version N" on API B, a read on any API process shows version N or later at once.

The projector commits its batches without waiting for the WAL flush (projections/
postgres_read_models.py); a commit is visible to every session when it returns, before the
flush, so the notice that follows it still never runs ahead of what readers see.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.api.operations import ADD_ITEM, CREATE, ORDER, order_input
from tests.support.cluster import Cluster
from tests.support.graphql_client import TRANSPORT_WS, GraphQLHttp, websocket

ORDER_PROJECTED = """
subscription($id: ID!, $v: Int!) { orderProjected(orderId: $id, minVersion: $v, timeoutMs: 15000) { orderId version } }
"""
ROUNDS = 4  # orders, each created and then given ITEMS items, every version waited for on B
ITEMS = 3


async def test_a_version_announced_on_b_is_read_on_every_api_process(cluster: Cluster) -> None:
    writer, announcer, other = cluster.api(), cluster.api(), cluster.api()
    cluster.projector()
    async with httpx.AsyncClient(timeout=15) as http:
        readers = [GraphQLHttp(http, process.url) for process in (writer, announcer, other)]
        write = readers[0]
        async with websocket(announcer.url, TRANSPORT_WS) as ws:
            for _ in range(ROUNDS):
                order_id = str(uuid.uuid4())
                for version in range(1, ITEMS + 2):
                    subscription = await ws.subscribe(ORDER_PROJECTED, {"id": order_id, "v": version})
                    await asyncio.sleep(0.01)
                    if version == 1:
                        await write.data(CREATE, {"input": order_input(orderId=order_id)})
                    else:
                        item = {"orderId": order_id, "productId": f"p-{version}", "quantity": 1, "price": "1"}
                        await write.data(ADD_ITEM, {"input": item})
                    kind, payload = await subscription.next_message(timeout=15)
                    assert kind == "next", payload
                    assert payload["data"]["orderProjected"]["version"] >= version
                    seen = await asyncio.gather(*(reader.data(ORDER, {"id": order_id}) for reader in readers))
                    assert [found["order"]["version"] >= version for found in seen] == [True] * len(readers), seen
