"""Read-your-writes across processes: write on API A, be told on API B, projector in a third."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.api.operations import ADD_ITEM, CREATE, order_input
from tests.support.cluster import Cluster
from tests.support.graphql_client import TRANSPORT_WS, GraphQLHttp, websocket

ORDER_PROJECTED = """
subscription($id: ID!, $v: Int!) { orderProjected(orderId: $id, minVersion: $v, timeoutMs: 15000) { orderId version } }
"""
ORDER_UPDATED = "subscription($id: ID!) { orderUpdated(orderId: $id) { version } }"


async def test_a_subscriber_on_b_sees_a_write_sent_to_a(cluster: Cluster) -> None:
    writer, reader = cluster.api(), cluster.api()
    cluster.projector()
    async with httpx.AsyncClient(timeout=15) as http:
        gql = GraphQLHttp(http, writer.url)
        for _ in range(3):
            order_id = str(uuid.uuid4())
            async with websocket(reader.url, TRANSPORT_WS) as ws:
                subscription = await ws.subscribe(ORDER_PROJECTED, {"id": order_id, "v": 1})
                await asyncio.sleep(0.05)
                created = (await gql.data(CREATE, {"input": order_input(orderId=order_id)}))["createOrder"]
                kind, payload = await subscription.next_message(timeout=15)
            assert kind == "next", payload
            assert payload["data"]["orderProjected"] == {"orderId": order_id, "version": created["version"]}


async def test_order_updated_on_b_follows_commands_on_a(cluster: Cluster) -> None:
    writer, reader = cluster.api(), cluster.api()
    cluster.projector()
    async with httpx.AsyncClient(timeout=15) as http:
        gql = GraphQLHttp(http, writer.url)
        order_id = (await gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"]
        async with websocket(reader.url, TRANSPORT_WS) as ws:
            subscription = await ws.subscribe(ORDER_UPDATED, {"id": order_id})
            for _ in range(3):
                item = {"orderId": order_id, "productId": "p", "quantity": 1, "price": "1"}
                await gql.data(ADD_ITEM, {"input": item})
            versions: list[int] = []
            while not versions or versions[-1] < 4:
                kind, payload = await subscription.next_message(timeout=15)
                assert kind == "next", payload
                versions.append(payload["data"]["orderUpdated"]["version"])
    assert versions == sorted(set(versions))
