"""A projector process SIGKILLed in the middle of a stream of writes: the standby takes over
from the checkpoint, and customer_summaries counts are exact afterwards."""

from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal

import httpx

from tests.api.operations import CANCEL, CREATE, order_input
from tests.support.cluster import Cluster
from tests.support.graphql_client import GraphQLHttp

PROJECTIONS = "{ projections { name position headPosition state } }"
SUMMARY = """
query($c: ID!) { customer(customerId: $c) { orderCount openOrderCount cancelledOrderCount lifetimeValue } }
"""


async def caught_up(gql: GraphQLHttp, timeout: float = 30.0) -> list[dict]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        statuses = (await gql.data(PROJECTIONS))["projections"]
        if all(status["position"] == status["headPosition"] for status in statuses):
            return statuses  # type: ignore[no-any-return]
        assert asyncio.get_running_loop().time() < deadline, f"projections never caught up: {statuses}"
        await asyncio.sleep(0.1)


async def test_a_killed_projector_is_replaced_and_nothing_is_lost_or_doubled(cluster: Cluster) -> None:
    api = cluster.api()
    active = cluster.projector()
    tag = uuid.uuid4().hex[:6]
    customers = [f"crash-{tag}-{n}" for n in range(4)]
    rng = random.Random(3)
    expected = {customer: {"orders": 0, "cancelled": 0, "value": Decimal("0")} for customer in customers}

    async with httpx.AsyncClient(timeout=15) as http:
        gql = GraphQLHttp(http, api.url)

        async def write(count: int) -> None:
            for _ in range(count):
                customer = rng.choice(customers)
                quantity = rng.randint(1, 3)
                created = (await gql.data(CREATE, {"input": order_input(
                    customerId=customer, items=[{"productId": "p", "quantity": quantity, "price": "2.50"}])}))
                expected[customer]["orders"] += 1
                if rng.random() < 0.25:
                    await gql.data(CANCEL, {"input": {"orderId": created["createOrder"]["orderId"], "reason": "x"}})
                    expected[customer]["cancelled"] += 1
                else:
                    expected[customer]["value"] += Decimal("2.50") * quantity

        await write(30)
        await caught_up(gql)
        standby = cluster.projector()
        await asyncio.sleep(1.0)
        writing = asyncio.create_task(write(120))
        await asyncio.sleep(0.5)
        active.kill()
        assert not active.alive
        await writing
        assert standby.alive
        await caught_up(gql)

        for customer, facts in expected.items():
            summary = (await gql.data(SUMMARY, {"c": customer}))["customer"]
            assert summary == {
                "orderCount": facts["orders"],
                "openOrderCount": facts["orders"] - facts["cancelled"],
                "cancelledOrderCount": facts["cancelled"],
                "lifetimeValue": f"{facts['value']:.2f}",
            }, customer
        found = await gql.data(
            "query($c: ID!) { customerOrders(customerId: $c, pageSize: 1) { total } }", {"c": customers[0]}
        )
        assert found["customerOrders"]["total"] == expected[customers[0]]["orders"]
