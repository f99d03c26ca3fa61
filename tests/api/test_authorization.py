"""Authorization by role, in process over each backend: what customers, staff and admins reach.

The schema runs with a context carrying each principal (the transports' part, turning a token
into that principal, is tested over the wire in test_authorization_transport.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from typing import Any

import pytest

from resolvers.arguments import ORDER_ID_NAMESPACE
from schema.context import Context
from schema.loaders import build_loaders
from schema.principal import OPEN, Principal, Role
from tests.api.authorization_support import SCHEMA, codes, customer, execute, staff, subscribe_first, subscription
from tests.api.operations import ADD_ITEM, CANCEL, CREATE, ORDER, SHIP, order_input
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

SEARCH = """
query Search($query: String, $filter: OrderFilter) {
  searchOrders(query: $query, filter: $filter, pageSize: 100) { total items { orderId customerId } }
}
"""
CUSTOMER_ORDERS = "query C($id: ID!) { customerOrders(customerId: $id) { total items { orderId customerId } } }"
CUSTOMER = "query C($id: ID!) { customer(customerId: $id) { customerId orderCount } }"
EVENTS = "query E($id: ID!) { orderEvents(orderId: $id) { type data } }"
PROJECTED = """
subscription P($id: ID!, $timeoutMs: Int) {
  orderProjected(orderId: $id, minVersion: 1, timeoutMs: $timeoutMs) { orderId customerId }
}
"""
UPDATED = "subscription U($id: ID!) { orderUpdated(orderId: $id) { orderId version } }"


def own_order_input(**changes: Any) -> dict[str, Any]:
    """A CreateOrderInput without customerId: a customer's own order."""
    value = order_input(**changes)
    del value["customerId"]
    return value


async def create(server: RunningServer, principal: Principal, value: dict[str, Any]) -> dict[str, Any]:
    """Create an order as the principal and wait until the read model shows it."""
    result = await execute(server, principal, CREATE, {"input": value})
    assert result.errors is None, result.errors
    assert result.data is not None
    created: dict[str, Any] = result.data["createOrder"]
    shown = await execute(server, OPEN, ORDER, {"id": created["orderId"], "minVersion": 1, "waitMs": 10_000})
    assert shown.data is not None and shown.data["order"] is not None
    return created


async def test_a_customer_creates_orders_for_itself_only(shared_api: RunningServer) -> None:
    alice, bob, sam = customer(), customer(), staff()
    mine = await create(shared_api, alice, own_order_input())
    shown = await execute(shared_api, alice, ORDER, {"id": mine["orderId"]})
    assert shown.data == {"order": dict(shown.data["order"], customerId=alice.customer_id)}  # type: ignore[index]
    assert (await execute(shared_api, alice, CREATE, {"input": order_input(alice.customer_id)})).errors is None

    other = await execute(shared_api, alice, CREATE, {"input": order_input(bob.customer_id)})
    assert codes(other) == ["FORBIDDEN"]
    assert other.data is None

    # Staff may create for any customer (a phone order), naming it.
    assert codes(await execute(shared_api, sam, CREATE, {"input": own_order_input()})) == ["BAD_USER_INPUT"]
    for_bob = await create(shared_api, sam, order_input(bob.customer_id))
    assert (await execute(shared_api, bob, ORDER, {"id": for_bob["orderId"]})).data["order"] is not None  # type: ignore[index]
    # With auth off a customerId is required, as before.
    assert codes(await execute(shared_api, OPEN, CREATE, {"input": own_order_input()})) == ["BAD_USER_INPUT"]


async def test_another_customers_order_reads_as_a_missing_one(shared_api: RunningServer) -> None:
    alice, bob = customer(), customer()
    order_id = (await create(shared_api, alice, own_order_input()))["orderId"]
    missing = str(uuid.uuid4())
    for principal, visible in ((alice, True), (bob, False), (staff(), True), (staff(Role.ADMIN), True), (OPEN, True)):
        for variables in ({}, {"minVersion": 1, "waitMs": 50}, {"minVersion": 5, "waitMs": 50}):
            result = await execute(shared_api, principal, ORDER, {"id": order_id, **variables})
            assert result.errors is None
            assert (result.data["order"] is not None) is visible, (principal, variables)  # type: ignore[index]
    for variables in ({}, {"minVersion": 1, "waitMs": 50}):
        assert (await execute(shared_api, bob, ORDER, {"id": missing, **variables})).data == {"order": None}


async def test_a_customer_names_only_itself(shared_api: RunningServer) -> None:
    alice, bob, sam = customer(), customer(), staff()
    alices = (await create(shared_api, alice, own_order_input()))["orderId"]
    bobs = (await create(shared_api, bob, own_order_input()))["orderId"]

    page = await execute(shared_api, alice, CUSTOMER_ORDERS, {"id": alice.customer_id})
    assert page.data is not None
    assert [item["orderId"] for item in page.data["customerOrders"]["items"]] == [alices]
    assert codes(await execute(shared_api, alice, CUSTOMER_ORDERS, {"id": bob.customer_id})) == ["FORBIDDEN"]
    staff_page = await execute(shared_api, sam, CUSTOMER_ORDERS, {"id": bob.customer_id})
    assert [item["orderId"] for item in staff_page.data["customerOrders"]["items"]] == [bobs]  # type: ignore[index]

    # searchOrders is forced to the customer's own orders, whatever the terms.
    for query in (None, "main", bob.customer_id, bobs):
        found = await execute(shared_api, alice, SEARCH, {"query": query})
        assert found.errors is None
        assert {item["customerId"] for item in found.data["searchOrders"]["items"]} <= {alice.customer_id}  # type: ignore[index]
    assert (await execute(shared_api, alice, SEARCH, {"query": alices})).data["searchOrders"]["total"] == 1  # type: ignore[index]
    own = await execute(shared_api, alice, SEARCH, {"filter": {"customerId": alice.customer_id}})
    assert own.data["searchOrders"]["total"] == 1  # type: ignore[index]
    assert codes(await execute(shared_api, alice, SEARCH, {"filter": {"customerId": bob.customer_id}})) == ["FORBIDDEN"]
    anyone = await execute(shared_api, sam, SEARCH, {"query": bobs})
    assert [item["orderId"] for item in anyone.data["searchOrders"]["items"]] == [bobs]  # type: ignore[index]

    assert codes(await execute(shared_api, alice, CUSTOMER, {"id": bob.customer_id})) == ["FORBIDDEN"]
    for principal in (alice, sam):
        summary = await _summary(shared_api, principal, alice.customer_id)
        assert summary == {"customerId": alice.customer_id, "orderCount": 1}


async def _summary(server: RunningServer, principal: Principal, customer_id: str | None) -> Any:
    # customer_summaries is its own projection: wait for it to show the order.
    for _ in range(100):
        result = await execute(server, principal, CUSTOMER, {"id": customer_id})
        assert result.errors is None, result.errors
        if result.data and result.data["customer"] is not None:
            return result.data["customer"]
        await asyncio.sleep(0.1)
    raise AssertionError("customer_summaries never showed the order")


def _shape(result: Any, order_id: str) -> tuple[list[str], list[str]]:
    return codes(result), [error.message.replace(order_id, "<id>") for error in result.errors or []]


async def test_commands_on_another_customers_order_answer_as_on_a_missing_one(shared_api: RunningServer) -> None:
    alice, bob = customer(), customer()
    order_id = (await create(shared_api, alice, own_order_input()))["orderId"]
    missing = str(uuid.uuid4())
    commands = [
        (ADD_ITEM, {"productId": "p", "quantity": 1, "price": "1.00"}),
        (CANCEL, {"reason": "mine now"}),
    ]
    for document, fields in commands:
        for extra in ({}, {"expectedVersion": 1}, {"expectedVersion": 0}):
            on_foreign = await execute(shared_api, bob, document, {"input": {"orderId": order_id, **fields, **extra}})
            on_missing = await execute(shared_api, bob, document, {"input": {"orderId": missing, **fields, **extra}})
            assert on_foreign.data is None
            assert _shape(on_foreign, order_id) == _shape(on_missing, missing), (document, extra)
            assert codes(on_foreign) in (["NOT_FOUND"], ["CONCURRENCY_CONFLICT"])
    # Nothing was written: the owner still sees version 1, and may change it.
    added = await execute(shared_api, alice, ADD_ITEM, {"input": {"orderId": order_id, **commands[0][1]}})
    assert added.data is not None and added.data["addOrderItem"]["version"] == 2
    # Only staff ship.
    assert codes(await execute(shared_api, alice, SHIP, {"input": {"orderId": order_id}})) == ["FORBIDDEN"]
    for principal in (staff(), staff(Role.ADMIN)):
        result = await execute(shared_api, principal, SHIP, {"input": {"orderId": order_id}})
        assert codes(result) in ([], ["INVALID_STATE"])  # the second one finds it shipped
    cancelled = await execute(shared_api, staff(), CANCEL, {"input": {"orderId": order_id, "reason": "x"}})
    assert codes(cancelled) == ["INVALID_STATE"]  # staff reach the order (it is shipped)


async def test_command_ids_are_scoped_to_the_principal(shared_api: RunningServer) -> None:
    alice, bob = customer(), customer()
    key = f"checkout-{uuid.uuid4().hex[:6]}"
    alices = await execute(shared_api, alice, CREATE, {"input": own_order_input(commandId=key)})
    bobs = await execute(shared_api, bob, CREATE, {"input": own_order_input(commandId=key)})
    assert alices.errors is None and bobs.errors is None, (alices.errors, bobs.errors)
    first, second = alices.data["createOrder"], bobs.data["createOrder"]  # type: ignore[index]
    assert first["commandId"] == second["commandId"] == key
    assert first["orderId"] != second["orderId"]
    # Each repeat replays its own principal's result, never the other's.
    assert (await execute(shared_api, bob, CREATE, {"input": own_order_input(commandId=key)})).data == bobs.data
    assert (await execute(shared_api, alice, CREATE, {"input": own_order_input(commandId=key)})).data == alices.data
    # Bob repeats Alice's cancel (same commandId, same order): his own command, on an order he cannot see.
    cancel = {"orderId": first["orderId"], "reason": "r", "commandId": f"cancel-{key}"}
    assert codes(await execute(shared_api, alice, CANCEL, {"input": cancel})) == []
    assert codes(await execute(shared_api, bob, CANCEL, {"input": cancel})) == ["NOT_FOUND"]
    # A different command under a used id is still refused, for its own principal.
    reused = await execute(shared_api, alice, CREATE, {"input": own_order_input(commandId=key, items=[
        {"productId": "other", "quantity": 1, "price": "1"}])})
    assert codes(reused) == ["BAD_USER_INPUT"]
    assert reused.errors is not None and key in reused.errors[0].message


async def test_auth_off_keeps_command_ids_and_derived_order_ids(shared_api: RunningServer) -> None:
    key = f"open-{uuid.uuid4().hex[:6]}"
    result = await execute(shared_api, OPEN, CREATE, {"input": order_input(commandId=key)})
    assert result.data == {"createOrder": dict(
        result.data["createOrder"], orderId=str(uuid.uuid5(ORDER_ID_NAMESPACE, key)), commandId=key  # type: ignore[index]
    )}


async def test_subscriptions_show_a_customer_only_its_orders(shared_api: RunningServer) -> None:
    alice, bob = customer(), customer()
    order_id = (await create(shared_api, alice, own_order_input()))["orderId"]
    missing = str(uuid.uuid4())
    for principal in (alice, staff()):
        first = await subscribe_first(shared_api, principal, PROJECTED, {"id": order_id})
        assert first.errors is None and first.data is not None
        assert first.data["orderProjected"] == {"orderId": order_id, "customerId": alice.customer_id}
    # Bob's wait for Alice's order ends exactly as his wait for a missing one.
    foreign = await subscribe_first(shared_api, bob, PROJECTED, {"id": order_id, "timeoutMs": 200})
    absent = await subscribe_first(shared_api, bob, PROJECTED, {"id": missing, "timeoutMs": 200})
    assert _shape(foreign, order_id) == _shape(absent, missing)
    assert codes(foreign) == ["CONSISTENCY_TIMEOUT"]

    async with subscription(shared_api, bob, UPDATED, {"id": order_id}) as bobs, \
            subscription(shared_api, alice, UPDATED, {"id": order_id}) as alices:
        assert (await asyncio.wait_for(anext(alices), 10)).data == {"orderUpdated": {"orderId": order_id, "version": 1}}
        waiting = asyncio.ensure_future(anext(bobs))
        added = await execute(shared_api, alice, ADD_ITEM, {"input": {"orderId": order_id, "productId": "p", "quantity": 1,
                                                                      "price": "1"}})
        assert added.errors is None
        assert (await asyncio.wait_for(anext(alices), 10)).data == {"orderUpdated": {"orderId": order_id, "version": 2}}
        await asyncio.sleep(0.3)
        assert not waiting.done(), "a customer was shown another customer's order"
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting


async def test_raw_events_are_for_admins(shared_api: RunningServer) -> None:
    alice = customer()
    order_id = (await create(shared_api, alice, own_order_input()))["orderId"]
    for principal in (alice, staff()):
        denied = await execute(shared_api, principal, EVENTS, {"id": order_id})
        assert codes(denied) == ["FORBIDDEN"] and denied.data is None
    for principal in (staff(Role.ADMIN), OPEN):
        shown = await execute(shared_api, principal, EVENTS, {"id": order_id})
        assert shown.errors is None and shown.data is not None
        assert shown.data["orderEvents"][0]["type"] == "order.created"
        assert shown.data["orderEvents"][0]["data"]["customer_id"] == alice.customer_id


LEAKY_ERROR = 'OperationalError: (sqlite3.OperationalError) no such table: x [SQL: SELECT 1] /srv/orderly/projections/runner.py'


async def test_last_error_is_for_admins(shared_api: RunningServer) -> None:
    services = shared_api.container.services
    assert services is not None
    real = await services.statuses()

    async def statuses() -> list[Any]:
        return [dataclasses.replace(view, last_error=LEAKY_ERROR) for view in real]

    async def status(name: str) -> Any:
        return next((view for view in await statuses() if view.name == name), None)

    failing = dataclasses.replace(services, statuses=statuses, status=status)
    query = "{ projections { name lastError } }"
    caught_up = 'subscription { projectionCaughtUp(name: "order_views", position: 0) { name lastError } }'
    for principal, shown in ((customer(), None), (staff(), None), (staff(Role.ADMIN), LEAKY_ERROR), (OPEN, LEAKY_ERROR)):
        context = Context(services=failing, loaders=build_loaders(failing.customers, cache=True), principal=principal)
        result = await SCHEMA.execute(query, context_value=context)
        assert result.errors is None
        assert {row["lastError"] for row in result.data["projections"]} == {shown}  # type: ignore[index]
        stream = await SCHEMA.subscribe(caught_up, context_value=context)
        try:
            first = await asyncio.wait_for(anext(stream), 10)  # type: ignore[call-overload]
        finally:
            await stream.aclose()  # type: ignore[union-attr]
        assert first.data == {"projectionCaughtUp": {"name": "order_views", "lastError": shown}}


@pytest.mark.parametrize("claimed", [None, "", "x\x00y", "c" * 101])
async def test_a_customer_token_without_a_valid_customer_reaches_nothing(
    shared_api: RunningServer, claimed: str | None
) -> None:
    broken = Principal(subject="someone", roles=frozenset({Role.CUSTOMER}), customer_id=claimed)
    for document, variables in ((ORDER, {"id": str(uuid.uuid4())}), (SEARCH, {}), (CREATE, {"input": own_order_input()})):
        assert codes(await execute(shared_api, broken, document, variables)) == ["FORBIDDEN"]
