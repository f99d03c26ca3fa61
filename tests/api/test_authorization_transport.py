"""Authorization by role over the wire: a server with auth on, tokens from `issue_token`, on each backend,
over HTTP and both WebSocket protocols."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.authorization_support import auth_settings, authed_websocket, bearer
from tests.api.operations import ADD_ITEM, CANCEL, CREATE, ORDER, SHIP, order_input
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS
from tests.support.server import RunningServer, running_server

EVENTS = "query E($id: ID!) { orderEvents(orderId: $id) { type data } }"
PROJECTIONS = "{ projections { name lastError } }"
PROJECTED = """
subscription P($id: ID!, $timeoutMs: Int) { orderProjected(orderId: $id, minVersion: 1, timeoutMs: $timeoutMs) { orderId } }
"""
UPDATED = "subscription U($id: ID!) { orderUpdated(orderId: $id) { orderId version } }"


@pytest.fixture
async def secured(database_url: str) -> AsyncIterator[RunningServer]:
    """A server with authentication on, on each backend."""
    async with running_server(auth_settings(database_url)) as server:
        yield server


class Caller:
    """One principal's HTTP client: POSTs with its token."""

    def __init__(self, server: RunningServer, headers: dict[str, str]) -> None:
        self.server = server
        self.headers = headers

    async def body(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.server.http.post(
            self.server.url, json={"query": query, "variables": variables or {}}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def codes(self, query: str, variables: dict[str, Any] | None = None) -> list[str]:
        return [error["extensions"]["code"] for error in (await self.body(query, variables)).get("errors", [])]

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.body(query, variables)
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]


def own_order(**changes: Any) -> dict[str, Any]:
    value = order_input(**changes)
    del value["customerId"]
    return value


async def created(caller: Caller, value: dict[str, Any]) -> str:
    """Create an order and wait for the read model to show it; its id."""
    order_id = str((await caller.data(CREATE, {"input": value}))["createOrder"]["orderId"])
    shown = await caller.data(ORDER, {"id": order_id, "minVersion": 1, "waitMs": 10_000})
    assert shown["order"] is not None
    return order_id


def without_id(body: dict[str, Any], order_id: str) -> list[tuple[str, str]]:
    return [(error["extensions"]["code"], error["message"].replace(order_id, "<id>")) for error in body.get("errors", [])]


async def test_roles_over_http(secured: RunningServer) -> None:
    alice_name, bob_name = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    alice = Caller(secured, bearer(alice_name, "customer"))
    bob = Caller(secured, bearer(bob_name, "customer"))
    sam = Caller(secured, bearer("sam", "staff"))
    ada = Caller(secured, bearer("ada", "admin"))
    nobody = Caller(secured, bearer("nobody", "auditor"))

    order_id = await created(alice, own_order())
    assert (await alice.data(ORDER, {"id": order_id}))["order"]["customerId"] == alice_name
    assert await alice.codes(CREATE, {"input": order_input(bob_name)}) == ["FORBIDDEN"]

    # Bob: Alice's order is as absent as one that does not exist.
    missing = str(uuid.uuid4())
    assert await bob.data(ORDER, {"id": order_id}) == {"order": None}
    add = {"productId": "p", "quantity": 1, "price": "1"}
    on_foreign = await bob.body(ADD_ITEM, {"input": {"orderId": order_id, **add}})
    on_missing = await bob.body(ADD_ITEM, {"input": {"orderId": missing, **add}})
    assert without_id(on_foreign, order_id) == without_id(on_missing, missing)
    assert without_id(on_foreign, order_id)[0][0] == "NOT_FOUND"
    assert await bob.codes(CANCEL, {"input": {"orderId": order_id, "reason": "r"}}) == ["NOT_FOUND"]

    # The same commandId from two subjects: two orders, each result to its own sender.
    key = f"checkout-{uuid.uuid4().hex[:6]}"
    alices = (await alice.data(CREATE, {"input": own_order(commandId=key)}))["createOrder"]
    bobs = (await bob.data(CREATE, {"input": own_order(commandId=key)}))["createOrder"]
    assert alices["orderId"] != bobs["orderId"] and alices["commandId"] == bobs["commandId"] == key
    assert (await bob.data(CREATE, {"input": own_order(commandId=key)}))["createOrder"] == bobs

    # Ship: staff and admin only; raw events: admin only.
    assert await alice.codes(SHIP, {"input": {"orderId": order_id}}) == ["FORBIDDEN"]
    assert (await sam.data(SHIP, {"input": {"orderId": order_id}}))["shipOrder"]["version"] == 2
    assert await alice.codes(EVENTS, {"id": order_id}) == ["FORBIDDEN"]
    assert await sam.codes(EVENTS, {"id": order_id}) == ["FORBIDDEN"]
    events = (await ada.data(EVENTS, {"id": order_id}))["orderEvents"]
    assert [event["type"] for event in events] == ["order.created", "order.shipped"]

    # Projections: everyone with a role; no role, nothing but introspection.
    for caller in (alice, sam, ada):
        assert {row["name"] for row in (await caller.data(PROJECTIONS))["projections"]} >= {"order_views"}
    assert await nobody.codes(PROJECTIONS) == ["FORBIDDEN"]
    assert await nobody.codes(ORDER, {"id": order_id}) == ["FORBIDDEN"]
    assert (await nobody.data("{ __schema { queryType { name } } }"))["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_roles_over_websocket(secured: RunningServer, protocol: str) -> None:
    alice_name = f"alice-{uuid.uuid4().hex[:6]}"
    alice_headers, bob_headers = bearer(alice_name, "customer"), bearer(f"bob-{uuid.uuid4().hex[:6]}", "customer")
    alice = Caller(secured, alice_headers)
    order_id = await created(alice, own_order())
    missing = str(uuid.uuid4())
    async with authed_websocket(secured.url, protocol, alice_headers) as alices_socket, \
            authed_websocket(secured.url, protocol, bob_headers) as bobs_socket, \
            authed_websocket(secured.url, protocol, bearer("sam", "staff")) as staff_socket, \
            authed_websocket(secured.url, protocol, bearer("nobody")) as nobodys_socket:
        # A role-less token gets FORBIDDEN on a subscription.
        denied = await nobodys_socket.subscribe(UPDATED, {"id": order_id})
        kind, errors = await denied.next_message()
        assert kind == "error" and [error["extensions"]["code"] for error in errors] == ["FORBIDDEN"]

        # Bob's wait for Alice's order ends as his wait for a missing one does.
        foreign = await bobs_socket.subscribe(PROJECTED, {"id": order_id, "timeoutMs": 200})
        absent = await bobs_socket.subscribe(PROJECTED, {"id": missing, "timeoutMs": 200})
        (kind_foreign, errors_foreign), (kind_absent, errors_absent) = (
            await foreign.next_message(), await absent.next_message()
        )
        assert kind_foreign == kind_absent == "error"
        assert [(e["extensions"]["code"], e["message"].replace(order_id, "<id>")) for e in errors_foreign] == [
            (e["extensions"]["code"], e["message"].replace(missing, "<id>")) for e in errors_absent
        ]
        assert errors_foreign[0]["extensions"]["code"] == "CONSISTENCY_TIMEOUT"

        own = await alices_socket.subscribe(UPDATED, {"id": order_id})
        watched = await staff_socket.subscribe(UPDATED, {"id": order_id})
        peeking = await bobs_socket.subscribe(UPDATED, {"id": order_id})
        for subscription in (own, watched):
            assert await subscription.next_message() == ("next", {"data": {"orderUpdated": {"orderId": order_id, "version": 1}}})
        await alice.data(ADD_ITEM, {"input": {"orderId": order_id, "productId": "p", "quantity": 1, "price": "1"}})
        for subscription in (own, watched):
            assert await subscription.next_message() == ("next", {"data": {"orderUpdated": {"orderId": order_id, "version": 2}}})
        with pytest.raises(asyncio.TimeoutError):
            await peeking.next_message(timeout=0.5)


async def test_queries_and_mutations_over_a_websocket_follow_the_same_rules(secured: RunningServer) -> None:
    # graphql-transport-ws runs every operation type (the legacy protocol here, subscriptions only).
    alice_headers, bob_headers = bearer(f"alice-{uuid.uuid4().hex[:6]}", "customer"), bearer("bob", "customer")
    order_id = await created(Caller(secured, alice_headers), own_order())
    async with authed_websocket(secured.url, TRANSPORT_WS, bob_headers) as bobs_socket:
        bobs_read = await bobs_socket.subscribe(ORDER, {"id": order_id})
        assert await bobs_read.next_message() == ("next", {"data": {"order": None}})
        bobs_ship = await bobs_socket.subscribe(SHIP, {"input": {"orderId": order_id}})
        kind, errors = await bobs_ship.next_message()
        assert kind == "error" and errors[0]["extensions"]["code"] == "FORBIDDEN"
        bobs_cancel = await bobs_socket.subscribe(CANCEL, {"input": {"orderId": order_id, "reason": "r"}})
        kind, errors = await bobs_cancel.next_message()
        assert kind == "error" and errors[0]["extensions"]["code"] == "NOT_FOUND"
