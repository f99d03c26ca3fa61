"""orderProjected on the compiled road (resolvers/compiled_subscriptions.py) against strawberry's road.

Each document is first run once on strawberry's road (the document cache then holds it, valid),
then subscribed on two sockets of one protocol: once with the compiled road on, once with it
off. Every message the two receive (the order at once, after a wait, an argument error, a
variable that does not coerce, a timeout, the end) must be the same text, the compiled road
must have taken each one, and the metrics must move the same way on both roads.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY

from orderly.metrics_settings import MetricsSettings
from resolvers.compiled_subscriptions import CompiledSubscriptions
from resolvers.graphql_schema import OrderlySchema
from tests.api.authorization_support import auth_settings, authed_websocket, bearer
from tests.api.operations import ADD_ITEM
from tests.api.test_authorization_transport import Caller, created, own_order
from tests.api.test_compact_projected import projected_document
from tests.api.test_compact_subscriptions import _create, _nothing_left
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket, WsSubscription, websocket
from tests.support.server import RunningServer, running_server

TERMINAL = {"complete", "error"}


async def _messages(subscription: WsSubscription) -> list[str]:
    """The operation's messages as the server wrote them (key order included), up to and including its
    last; without their id, which is the socket's count (each was routed by it)."""
    messages = []
    while True:
        message = await subscription._receive(10.0)  # noqa: SLF001
        messages.append(json.dumps({key: value for key, value in message.items() if key != "id"}))
        if message["type"] in TERMINAL:
            return messages


async def _warmed(socket: GraphQLWebSocket, query: str, variables: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the document once on strawberry's road (minVersion reached or refused at once), so the cache keeps it."""
    monkeypatch.setattr(OrderlySchema, "compile_subscriptions", False)
    await _messages(await socket.subscribe(query, variables))


async def _both(
    monkeypatch: pytest.MonkeyPatch, compiled: GraphQLWebSocket, plain: GraphQLWebSocket, query: str, variables: dict[str, Any]
) -> tuple[WsSubscription, WsSubscription]:
    """The document on both roads; the compiled road took the first."""
    taken = CompiledSubscriptions.taken
    monkeypatch.setattr(OrderlySchema, "compile_subscriptions", True)
    on = await compiled.subscribe(query, variables)
    for _ in range(500):
        if CompiledSubscriptions.taken > taken:
            break
        await asyncio.sleep(0.01)
    assert CompiledSubscriptions.taken == taken + 1, query
    monkeypatch.setattr(OrderlySchema, "compile_subscriptions", False)
    # Not a sleep: a loaded machine may take longer to reach the schema; wait until it chose the road.
    chosen: list[bool] = []
    choose = OrderlySchema._compiled_stream  # noqa: SLF001

    def recorded(self: OrderlySchema, *arguments: Any) -> Any:
        chosen.append(self.compile_subscriptions)
        return choose(self, *arguments)

    monkeypatch.setattr(OrderlySchema, "_compiled_stream", recorded)
    off = await plain.subscribe(query, variables)
    for _ in range(500):
        if chosen:
            break
        await asyncio.sleep(0.01)
    assert not any(chosen), query  # graphql-ws asks twice (subscribe, then strawberry's stream inside it)
    monkeypatch.setattr(OrderlySchema, "_compiled_stream", choose)
    monkeypatch.setattr(OrderlySchema, "compile_subscriptions", True)
    return on, off


async def _add_item(api: RunningServer, order_id: str) -> None:
    await api.gql.data(ADD_ITEM, {"input": {"orderId": order_id, "productId": "p", "quantity": 2, "price": "1.25"}})


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_the_compiled_road_sends_what_strawberry_sends(
    api: RunningServer, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_ids = await _create(api, 2)
    at_once = [(*projected_document(seed, "minVersion: 1"), order_ids[seed % 2]) for seed in range(10)]
    refused = [
        (*projected_document(20, "minVersion: -1"), order_ids[0]),  # ValidInput: BAD_USER_INPUT on the field
        (*projected_document(21, "minVersion: 1, timeoutMs: -5"), order_ids[0]),
        (*projected_document(22, "minVersion: 3, timeoutMs: 0"), order_ids[1]),  # CONSISTENCY_TIMEOUT at once
    ]
    waiting = [
        (query.replace("($id: ID!", "($id: ID!, $v: Int!"), flags, order_ids[seed % 2])
        for seed in range(30, 38)
        for query, flags in [projected_document(seed, "minVersion: $v, timeoutMs: 20000")]
    ]
    async with websocket(api.url, protocol) as compiled, websocket(api.url, protocol) as plain:
        for query, flags, order_id in at_once + refused:
            await _warmed(plain, query, {"id": order_id, **flags}, monkeypatch)
            on, off = await _both(monkeypatch, compiled, plain, query, {"id": order_id, **flags})
            assert await _messages(on) == await _messages(off), query

        # A variable that does not coerce: a pre-execution error (graphql-core's, before the resolver runs).
        query, flags, order_id = at_once[0]
        on, off = await _both(monkeypatch, compiled, plain, query, {"id": None, **flags})
        sent = await _messages(on)
        assert sent == await _messages(off)
        assert len(sent) == 1 and '"type": "error"' in sent[0]

        pairs = []
        for query, flags, order_id in waiting:
            await _warmed(plain, query, {"id": order_id, "v": 1, **flags}, monkeypatch)
            pairs.append(await _both(monkeypatch, compiled, plain, query, {"id": order_id, "v": 2, **flags}))
        for order_id in order_ids:
            await _add_item(api, order_id)
        for on, off in pairs:
            assert await _messages(on) == await _messages(off)
    assert await _nothing_left(api) == (0, 0, 0)


OPEN = "orderly_graphql_subscriptions_open"
ENDED = "orderly_graphql_operation_seconds_count"
ERRORS = "orderly_graphql_errors_total"
WAITS = "orderly_consistency_wait_seconds_count"
PROJECTED = (
    "subscription Projected($id: ID!, $v: Int!, $t: Int) "
    "{ orderProjected(orderId: $id, minVersion: $v, timeoutMs: $t) { version } }"
)


def _samples() -> dict[str, float]:
    labels = {"operation": "Projected", "type": "subscription"}

    def sample(name: str, **more: str) -> float:
        return REGISTRY.get_sample_value(name, more) or 0.0

    return {
        "open": sample(OPEN),
        "ended": sample(ENDED, **labels),
        "bad_input": sample(ERRORS, **labels, code="BAD_USER_INPUT"),
        "timeout": sample(ERRORS, **labels, code="CONSISTENCY_TIMEOUT"),
        **{outcome: sample(WAITS, kind="order_version", outcome=outcome) for outcome in ("reached", "timed_out", "cancelled")},
    }


async def test_metrics_move_the_same_way_on_both_roads(server_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with server_factory(metrics=MetricsSettings(enabled=True)) as api:
        (order_id,) = await _create(api, 1)
        async with websocket(api.url, TRANSPORT_WS) as socket:
            await _warmed(socket, PROJECTED, {"id": order_id, "v": 1, "t": None}, monkeypatch)
            moved = {}
            for compiled in (True, False):
                version = (await api.gql.data("query($id: ID!) { order(orderId: $id) { version } }", {"id": order_id}))["order"]
                before = _samples()
                taken = CompiledSubscriptions.taken
                monkeypatch.setattr(OrderlySchema, "compile_subscriptions", compiled)
                reached = await socket.subscribe(PROJECTED, {"id": order_id, "v": 1, "t": None})
                refused = await socket.subscribe(PROJECTED, {"id": order_id, "v": -1, "t": None})
                timed = await socket.subscribe(PROJECTED, {"id": order_id, "v": 99, "t": 0})
                waiting = await socket.subscribe(PROJECTED, {"id": order_id, "v": version["version"] + 1, "t": 20000})
                stopped = await socket.subscribe(PROJECTED, {"id": order_id, "v": 99, "t": 20000})
                for done in (reached, refused, timed):
                    await _messages(done)
                for _ in range(500):  # both waits have begun (the last one's first read is done)
                    if _samples()["open"] - before["open"] == 2:
                        break
                    await asyncio.sleep(0.01)
                await _add_item(api, order_id)
                await _messages(waiting)
                await stopped.stop()
                for _ in range(500):
                    if _samples()["open"] == before["open"]:
                        break
                    await asyncio.sleep(0.01)
                after = _samples()
                moved[compiled] = {key: after[key] - before[key] for key in before}
                assert CompiledSubscriptions.taken - taken == (5 if compiled else 0)
        assert (
            moved[True]
            == moved[False]
            == {
                "open": 0,
                "ended": 5,
                "bad_input": 1,
                "timeout": 1,
                "reached": 2,
                "timed_out": 1,
                "cancelled": 1,
            }
        )
        assert await _nothing_left(api) == (0, 0, 0)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_roles_and_customers_hold_on_the_compiled_road(
    database_url: str, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_server(auth_settings(database_url)) as secured:
        alice_headers = bearer(f"alice-{uuid.uuid4().hex[:6]}", "customer")
        order_id = await created(Caller(secured, alice_headers), own_order())
        query = "subscription P($id: ID!, $t: Int) { orderProjected(orderId: $id, minVersion: 1, timeoutMs: $t) { orderId } }"
        callers = {
            "alice": alice_headers,  # her own order: the order
            "bob": bearer(f"bob-{uuid.uuid4().hex[:6]}", "customer"),  # another customer's: as if it were missing
            "nobody": bearer("nobody"),  # no role: FORBIDDEN
        }
        seen = {}
        for name, headers in callers.items():
            async with (
                authed_websocket(secured.url, protocol, headers) as compiled,
                authed_websocket(secured.url, protocol, headers) as plain,
            ):
                variables = {"id": order_id, "t": 300}
                await _warmed(plain, query, variables, monkeypatch)
                on, off = await _both(monkeypatch, compiled, plain, query, variables)
                seen[name] = await _messages(on)
                assert seen[name] == await _messages(off), name
        assert order_id in seen["alice"][0]
        assert "CONSISTENCY_TIMEOUT" in seen["bob"][0] and order_id in seen["bob"][0]  # the id it was asked, no data
        assert '"data": null' in seen["bob"][0] or '"data"' not in seen["bob"][0]
        assert "FORBIDDEN" in seen["nobody"][0]
