"""Processes over PostgreSQL and Redis: a projector parks a poison stream, is SIGKILLed, and its
successor holds the stream back, goes on with the rest, and replays it on a retry from the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from eventstore.database import create_database
from tests.api.operations import ADD_ITEM, CREATE, order_input
from tests.projections.test_parking import insert_poison, repair_poison
from tests.support.cluster import Cluster
from tests.support.graphql_client import TRANSPORT_WS, GraphQLHttp, websocket

ROOT = Path(__file__).resolve().parent.parent.parent
ORDER = "query($id: ID!, $v: Int) { order(orderId: $id, minVersion: $v, waitMs: 10000) { version itemCount } }"
ORDER_PROJECTED = """
subscription($id: ID!, $v: Int!) { orderProjected(orderId: $id, minVersion: $v, timeoutMs: 30000) { version } }"""
PROJECTIONS = "{ projections { name position headPosition state parkedStreams } }"


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 120.0) -> None:  # bounds a hang only
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def projected(gql: GraphQLHttp, order_id: str, version: int) -> dict[str, int]:
    """The order's view once it has `version`: one waitMs (10 s, the most allowed) may not cover a
    projector process's start on a loaded machine, so the wait is asked again until it has."""
    views: list[dict[str, int]] = []

    async def reached() -> bool:
        views.append((await gql.data(ORDER, {"id": order_id, "v": version}))["order"])
        return bool(views[-1] and views[-1]["version"] >= version)

    await eventually(reached)
    return views[-1]


async def test_a_parked_stream_survives_a_killed_projector_and_a_cli_retry_replays_it(cluster: Cluster) -> None:
    api = cluster.api()
    first = cluster.projector(ORDERLY_PROJECTION_RETRIES="2")
    database = create_database(cluster.env["ORDERLY_DATABASE_URL"])
    try:
        async with httpx.AsyncClient(timeout=60) as http:  # a loaded server answers a 10 s wait late
            gql = GraphQLHttp(http, api.url)
            customer = "cust-crash-parking"
            good = (await gql.data(CREATE, {"input": order_input(customer)}))["createOrder"]["orderId"]
            bad = (await gql.data(CREATE, {"input": order_input(customer)}))["createOrder"]["orderId"]
            assert (await projected(gql, bad, 1))["version"] == 1

            async with websocket(api.url, TRANSPORT_WS) as ws:
                waiting = await ws.subscribe(ORDER_PROJECTED, {"id": bad, "v": 2})
                await insert_poison(database, bad, 2)
                # The parking reaches the API process over Redis, long before the 30 s timeout.
                kind, errors = await waiting.next_message(timeout=25)
                assert kind == "error" and [error["extensions"]["code"] for error in errors] == ["PROJECTION_FAILED"]

            async def both_parked() -> bool:
                statuses = (await gql.data(PROJECTIONS))["projections"]
                return all(status["parkedStreams"] == 1 and status["state"] == "RUNNING" for status in statuses)

            await eventually(both_parked)
            first.kill()
            assert not first.alive

            added = await gql.data(ADD_ITEM, {"input": {"orderId": good, "productId": "p", "quantity": 1, "price": "1"}})
            cluster.projector(ORDERLY_PROJECTION_RETRIES="2")
            view = await projected(gql, good, added["addOrderItem"]["version"])
            assert view == {"version": 2, "itemCount": 3}
            assert (await gql.data(ORDER, {"id": bad}))["order"]["version"] == 1
            assert await both_parked()

            await repair_poison(database, bad, 2)
            retried = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "orderly.cli", "parked", "retry", bad],
                cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **cluster.env},
            )
            assert retried.returncode == 0, retried.stderr

            async def released() -> bool:
                statuses = (await gql.data(PROJECTIONS))["projections"]
                return all(status["parkedStreams"] == 0 for status in statuses)

            await eventually(released)
            assert await projected(gql, bad, 2) == {"version": 2, "itemCount": 5}
    finally:
        await database.dispose()
