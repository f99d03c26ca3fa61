"""A blue-green rebuild on PostgreSQL with two API processes and a projector, under live writes and reads.

`orderly rebuild order_views` runs as a subprocess; it is SIGKILLed mid-way, then run again, and
finishes; then `orderly rebuild customer_summaries`. Meanwhile clients keep writing on one API
and reading on both: no read of a seeded order answers null, no order's version and no
customer's order count ever goes down, nor does the projection's position, and no read fails.
At the end the live rows of both projections equal a fold of the whole log from scratch.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from eventstore.database import create_database
from eventstore.local_bus import InProcessBus
from orderly.bootstrap import open_backend
from projections.checkpoints import ProjectionState, projection_checkpoints, read_checkpoint
from projections.generations import create_generation, physical_name
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner
from tests.api.operations import ADD_ITEM, CREATE, order_input
from tests.support.cluster import Cluster
from tests.support.graphql_client import GraphQLHttp
from tests.support.processes import OrderlyProcess

ORDER = "query($id: ID!) { order(orderId: $id) { orderId version } }"
CUSTOMER_ORDERS = "query($c: ID!) { customerOrders(customerId: $c) { total } }"
PROJECTIONS_QUERY = "{ projections { name position headPosition rebuild { generation position headPosition } } }"


async def _statuses(gql: GraphQLHttp) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in (await gql.data(PROJECTIONS_QUERY))["projections"]}


async def _until(check: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_blue_green_rebuild_under_load_survives_kill_9_and_serves_throughout(
    cluster: Cluster, postgres_url: str
) -> None:
    writer_api, reader_api = cluster.api(), cluster.api()
    cluster.projector()
    rng = random.Random(12)
    customers = [f"bg-{n}" for n in range(6)]
    known: dict[str, str] = {}  # order id -> customer id, for orders a client has seen projected
    failures: list[str] = []
    answers = 0

    async with httpx.AsyncClient(timeout=15) as http:
        write, read_a, read_b = GraphQLHttp(http, writer_api.url), GraphQLHttp(http, writer_api.url), GraphQLHttp(
            http, reader_api.url
        )

        async def create(customer: str) -> str:
            items = [{"productId": f"p{n}", "quantity": 1, "price": "1.50"} for n in range(rng.randint(1, 3))]
            created = await write.data(CREATE, {"input": order_input(customerId=customer, items=items)})
            return str(created["createOrder"]["orderId"])

        for _ in range(120):  # the log the rebuild replays
            customer = rng.choice(customers)
            known[await create(customer)] = customer
        await _until(lambda: _caught_up(read_b), 30, "the projectors to catch up")

        stop = asyncio.Event()

        async def keep_writing() -> None:
            while not stop.is_set():
                order_id = rng.choice(list(known))
                await write.data(ADD_ITEM, {"input": {"orderId": order_id, "productId": "x", "quantity": 1, "price": "1"}})
                await create(rng.choice(customers))
                await asyncio.sleep(0.01)

        async def keep_reading(gql: GraphQLHttp) -> None:
            nonlocal answers
            versions: dict[str, int] = {}
            totals: dict[str, int] = {}
            shown_position = 0
            while not stop.is_set():
                position = int((await _statuses(gql))["order_views"]["position"])
                if position < shown_position:
                    failures.append(f"order_views position went from {shown_position} to {position}")
                shown_position = max(shown_position, position)
                order_id = rng.choice(list(known))
                body = await gql.execute(ORDER, {"id": order_id})
                order = (body.get("data") or {}).get("order")
                if body.get("errors") or order is None:
                    failures.append(f"order {order_id}: {body}")
                elif order["version"] < versions.get(order_id, 0):
                    failures.append(f"order {order_id} went from version {versions[order_id]} to {order['version']}")
                else:
                    versions[order_id] = order["version"]
                customer = known[order_id]
                body = await gql.execute(CUSTOMER_ORDERS, {"c": customer})
                page = (body.get("data") or {}).get("customerOrders")
                if body.get("errors") or page is None or page["total"] < totals.get(customer, 1):
                    failures.append(f"customerOrders {customer}: {body} after {totals.get(customer)}")
                else:
                    totals[customer] = page["total"]
                answers += 2
                await asyncio.sleep(0.005)  # two readers and a writer share two cores with five processes

        load = [
            asyncio.create_task(keep_writing()),
            asyncio.create_task(keep_reading(read_a)),
            asyncio.create_task(keep_reading(read_b)),
        ]
        try:
            # A slow first run (tiny batches), killed once it has committed some of its work.
            first = OrderlyProcess(
                ["rebuild", "order_views"], {**cluster.env, "ORDERLY_BATCH_SIZE": "1"}, cluster.log_dir, "rebuild-1"
            )
            cluster.processes.append(first)
            first.start()
            await _until(lambda: _rebuilding(read_b, at_least=10), 60, "the first rebuild to make progress")
            assert first.alive, first.log()  # killed mid-way, not after it finished
            first.kill()
            during = (await _statuses(read_b))["order_views"]
            assert during["rebuild"]["generation"] == 2, during  # the shadow survives the kill...
            assert await _live_generation(postgres_url, "order_views") == 1  # ...and generation 1 still serves

            second = OrderlyProcess(["rebuild", "order_views"], cluster.env, cluster.log_dir, "rebuild-2")
            cluster.processes.append(second)
            second.start()
            await _until(lambda: _exited(second), 120, "the second rebuild to finish")
            log = second.log()
            assert "resuming the rebuild of generation 2" in log, log
            assert "projection order_views switched to generation 2 (version 1)" in log, log
            assert "generation 1 dropped" in log, log

            summaries = OrderlyProcess(["rebuild", "customer_summaries"], cluster.env, cluster.log_dir, "rebuild-3")
            cluster.processes.append(summaries)
            summaries.start()
            await _until(lambda: _exited(summaries), 120, "the customer_summaries rebuild to finish")
            assert "projection customer_summaries switched to generation 2" in summaries.log(), summaries.log()
        finally:
            stop.set()
            await asyncio.gather(*load)
        await _until(lambda: _caught_up(read_b), 30, "the projectors to catch up after the rebuild")
        after = (await _statuses(read_b))["order_views"]

    assert failures == [], failures[:5]
    assert answers > 50
    assert after["rebuild"] is None
    for name in PROJECTIONS:
        assert await _live_generation(postgres_url, name) == 2
        assert await _live_rows(postgres_url, name) == await _fold_from_scratch(postgres_url, name)


async def _caught_up(gql: GraphQLHttp) -> bool:
    statuses = (await _statuses(gql)).values()
    return all(status["position"] == status["headPosition"] for status in statuses)


async def _rebuilding(gql: GraphQLHttp, *, at_least: int) -> bool:
    progress = (await _statuses(gql))["order_views"]["rebuild"]
    return progress is not None and int(progress["position"]) >= at_least


async def _exited(process: OrderlyProcess) -> bool:
    return not process.alive


async def _live_generation(url: str, name: str) -> int:
    database = create_database(url)
    try:
        async with database.engine.connect() as conn:
            checkpoint = await read_checkpoint(conn, name)
    finally:
        await database.dispose()
    assert checkpoint is not None
    return checkpoint.generation


async def _live_rows(url: str, name: str) -> list[list[tuple[Any, ...]]]:
    return await _rows(url, [table.name for table in PROJECTIONS[name].tables])


async def _rows(url: str, tables: list[str]) -> list[list[tuple[Any, ...]]]:
    database = create_database(url)
    try:
        async with database.engine.connect() as conn:
            return [[tuple(row) for row in await conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1'))] for table in tables]
    finally:
        await database.dispose()


async def _fold_from_scratch(url: str, name: str) -> list[list[tuple[Any, ...]]]:
    """Fold the whole log into a generation of its own (99), with the same projector, and read it."""
    database = create_database(url)
    backend = open_backend(database)
    projector = PROJECTIONS[name]
    try:
        async with database.write_engine.begin() as conn:
            await create_generation(conn, projector, 99)
            await conn.execute(
                projection_checkpoints.insert().values(
                    name=f"verify-{name}", position=0, state=ProjectionState.STOPPED.value, updated_at=datetime.now(UTC),
                    generation=99, version=1,
                )
            )
        runner = ProjectionRunner(
            f"verify-{name}", projector, backend.read_models, backend.store, InProcessBus(), batch_size=1000
        )
        await runner.catch_up()
    finally:
        await database.dispose()
    return await _rows(url, [physical_name(table.name, 99) for table in projector.tables])
