"""What a client sees over HTTP on the compiled road: it is taken (POST and GET) for a repeated
read, and authentication, per-customer authorization, the operation limits and the operation
metrics still apply on it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from orderly.auth.settings import AuthSettings
from orderly.limit_settings import OperationLimits
from orderly.metrics_settings import MetricsSettings
from resolvers.compiled_operations import CompiledOperations
from tests.api.authorization_support import SECRET, bearer
from tests.api.operations import CREATE, ORDER_FIELDS, order_input
from tests.projections.test_parking import insert_poison
from tests.support.server import RunningServer, running_server, server_settings

ORDER_READ = f"query OrderRead($id: ID!) {{ order(orderId: $id, minVersion: 1, waitMs: 5000) {{ {ORDER_FIELDS} }} }}"
THEIR_ORDERS = "query TheirOrders($customer: ID!) { customerOrders(customerId: $customer) { total items { orderId } } }"
SEARCH = "query Search($size: Int) { searchOrders(pageSize: $size) { total items { orderId items { productId } } } }"


def staff() -> dict[str, str]:
    return bearer(f"staff-{uuid.uuid4().hex[:6]}", "staff")


def customer(name: str) -> dict[str, str]:
    return bearer(name, "customer")


async def post(server: RunningServer, query: str, variables: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    response = await server.http.post(server.url, json={"query": query, "variables": variables}, headers=headers)
    return response.status_code, response.json()


async def road(server: RunningServer, query: str, variables: dict[str, Any], headers: dict[str, str]) -> tuple[Any, bool]:
    """The response body, and whether the compiled road answered it."""
    before = CompiledOperations.taken
    status, body = await post(server, query, variables, headers)
    assert status == 200, body
    return body, CompiledOperations.taken == before + 1


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[RunningServer]:
    """Authentication and operation metrics on; the response limit low enough for one full order."""
    settings = server_settings(
        database_url,
        auth=AuthSettings(jwt_secret=SECRET),
        metrics=MetricsSettings(enabled=True),
        operation_limits=OperationLimits(max_cost=100, max_response_bytes=4_000),
    )
    async with running_server(settings) as running:
        yield running


async def create(server: RunningServer, customer_id: str, **changes: Any) -> str:
    status, body = await post(server, CREATE, {"input": order_input(customer_id, **changes)}, customer(customer_id))
    assert status == 200 and "errors" not in body, body
    return str(body["data"]["createOrder"]["orderId"])


async def test_a_repeated_read_is_compiled_and_stays_authenticated_and_authorized(server: RunningServer) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    order_id = await create(server, alice)
    first, compiled = await road(server, ORDER_READ, {"id": order_id}, customer(alice))
    assert not compiled  # parsed and validated on strawberry's road, then kept
    assert first["data"]["order"]["orderId"] == order_id
    again, compiled = await road(server, ORDER_READ, {"id": order_id}, customer(alice))
    assert compiled and again == first

    before = CompiledOperations.taken
    status, body = await post(server, ORDER_READ, {"id": order_id}, {})
    assert status == 401 and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    status, body = await post(server, ORDER_READ, {"id": order_id}, {"Authorization": "Bearer not-a-token"})
    assert status == 401
    assert CompiledOperations.taken == before

    # Another customer's order reads as a missing one; naming another customer is FORBIDDEN, with its path.
    hidden, compiled = await road(server, ORDER_READ, {"id": order_id}, customer(bob))
    assert compiled and hidden == {"data": {"order": None}}
    await road(server, THEIR_ORDERS, {"customer": alice}, customer(bob))
    refused, compiled = await road(server, THEIR_ORDERS, {"customer": alice}, customer(bob))
    assert compiled and refused["data"] is None
    [error] = refused["errors"]
    assert (error["path"], error["extensions"]["code"]) == (["customerOrders"], "FORBIDDEN")
    mine, compiled = await road(server, THEIR_ORDERS, {"customer": alice}, customer(alice))
    assert compiled and mine["data"]["customerOrders"]["items"] == [{"orderId": order_id}]

    # A bad argument: BAD_USER_INPUT at its path, on the compiled road too.
    bad, compiled = await road(server, ORDER_READ, {"id": ""}, customer(alice))
    assert compiled and bad["data"] == {"order": None}
    assert (bad["errors"][0]["path"], bad["errors"][0]["extensions"]["code"]) == (["order"], "BAD_USER_INPUT")


async def test_get_takes_the_compiled_road_too(server: RunningServer) -> None:
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    order_id = await create(server, alice)
    params = {"query": ORDER_READ, "variables": json.dumps({"id": order_id})}
    answers = []
    for _ in range(3):
        before = CompiledOperations.taken
        response = await server.http.get(server.url, params=params, headers=customer(alice))
        assert response.status_code == 200
        answers.append((response.json(), CompiledOperations.taken == before + 1))
    assert [compiled for _, compiled in answers] == [False, True, True]
    assert answers[0][0] == answers[1][0] == answers[2][0]
    assert answers[0][0]["data"]["order"]["orderId"] == order_id


async def test_the_operation_limits_hold_on_the_compiled_road(server: RunningServer) -> None:
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    order_id = await create(server, alice, items=[
        {"productId": f"product-{index:03d}-{'x' * 40}", "quantity": 1, "price": "1.00"} for index in range(40)
    ])
    for _ in range(2):
        await road(server, SEARCH, {"size": 1}, staff())
    small, compiled = await road(server, SEARCH, {"size": 1}, staff())
    assert compiled and "errors" not in small
    # The cost with this request's variables: 100 rows of items are over ORDERLY_LIMIT_COST.
    costly, compiled = await road(server, SEARCH, {"size": 100}, staff())
    assert not compiled  # refused by strawberry's road, as every request over the cost is
    assert costly["errors"][0]["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "cost"}
    # The response size: the large order is over ORDERLY_LIMIT_RESPONSE_BYTES.
    on_strawberrys_road, compiled = await road(server, ORDER_READ, {"id": order_id}, customer(alice))
    assert not compiled
    large, compiled = await road(server, ORDER_READ, {"id": order_id}, customer(alice))
    assert compiled and large == on_strawberrys_road
    assert large["errors"][0]["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "responseBytes"}
    # The alias limit is a validation rule: the document is refused every time, never compiled.
    aliased = "{ " + " ".join(f'a{index}: order(orderId: "{order_id}") {{ orderId }}' for index in range(51)) + " }"
    for _ in range(2):
        refused, compiled = await road(server, aliased, {}, staff())
        assert not compiled and refused["errors"][0]["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "aliases"}


async def test_compiled_operations_are_counted_as_strawberrys_are(server: RunningServer) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    await create(server, alice)
    await road(server, THEIR_ORDERS, {"customer": bob}, customer(bob))  # now cached
    labels = {"operation": "TheirOrders", "type": "query"}
    timed = sample("orderly_graphql_operation_seconds_count", **labels)
    forbidden = sample("orderly_graphql_errors_total", **labels, code="FORBIDDEN")
    _, compiled = await road(server, THEIR_ORDERS, {"customer": bob}, customer(bob))
    assert compiled
    _, compiled = await road(server, THEIR_ORDERS, {"customer": alice}, customer(bob))
    assert compiled
    assert sample("orderly_graphql_operation_seconds_count", **labels) == timed + 2
    assert sample("orderly_graphql_errors_total", **labels, code="FORBIDDEN") == forbidden + 1


async def test_a_wait_on_a_parked_order_fails_at_once_on_the_compiled_road(postgres_url: str) -> None:
    settings = server_settings(postgres_url, auth=AuthSettings(jwt_secret=SECRET)).with_changes(projection_retries=1)
    async with running_server(settings) as parked_server:
        alice = f"alice-{uuid.uuid4().hex[:6]}"
        order_id = await create(parked_server, alice)
        wait = "query Wait($id: ID!, $v: Int) { order(orderId: $id, minVersion: $v, waitMs: 10000) { version } }"
        for _ in range(2):
            seen, _ = await road(parked_server, wait, {"id": order_id, "v": 1}, customer(alice))
            assert seen == {"data": {"order": {"version": 1}}}
        await insert_poison(parked_server.container.database, order_id, 2)
        admin = bearer("ops", "admin")
        parked = "{ parkedStreams(projection: \"order_views\") { streamId } }"
        for _ in range(300):
            _, body = await post(parked_server, parked, {}, admin)
            if body["data"]["parkedStreams"]:
                break
            await asyncio.sleep(0.05)
        assert body["data"]["parkedStreams"] == [{"streamId": order_id}]
        failed, compiled = await road(parked_server, wait, {"id": order_id, "v": 2}, customer(alice))
        assert compiled and failed["data"] == {"order": None}
        [error] = failed["errors"]
        assert (error["path"], error["extensions"]["code"]) == (["order"], "PROJECTION_FAILED")


async def test_the_compiled_roads_bytes_equal_strawberrys(server: RunningServer) -> None:
    """The compiled road sends the data it encoded for the size check: byte for byte what strawberry's
    road sends, in both media types, and the size limit still refuses on it."""
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    order_id = await create(server, alice)
    await road(server, ORDER_READ, {"id": order_id}, customer(alice))  # projected
    plain = f"query Plain($id: ID!) {{ order(orderId: $id) {{ {ORDER_FIELDS} }} }}"
    for accept in ("application/json", "application/graphql-response+json"):
        headers = customer(alice) | {"accept": accept}
        answers = []
        for _ in range(3):
            before = (CompiledOperations.taken, CompiledOperations.direct)
            response = await server.http.post(server.url, json={"query": plain, "variables": {"id": order_id}}, headers=headers)
            answers.append((response.status_code, response.headers["content-type"], response.content, before))
        (status, media, body, _), compiled = answers[0], answers[2]
        assert (status, accept in media) == (200, True)
        assert compiled[:3] == (status, media, body)
        assert (CompiledOperations.taken, CompiledOperations.direct) == (compiled[3][0] + 1, compiled[3][1] + 1)
        assert json.loads(body)["data"]["order"]["orderId"] == order_id, body
    big = await create(server, alice, items=[
        {"productId": f"product-{index:03d}-{'x' * 40}", "quantity": 1, "price": "1.00"} for index in range(40)
    ])
    await road(server, ORDER_READ, {"id": big}, customer(alice))
    refusals = [await post(server, plain, {"id": big}, customer(alice)) for _ in range(3)]
    assert refusals[0] == refusals[1] == refusals[2]
    assert refusals[0][1]["errors"][0]["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "responseBytes"}
