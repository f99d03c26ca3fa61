"""Handed-over orderUpdated subscriptions (orderly/compact_subscriptions.py) against strawberry's road.

Each generated document is subscribed twice on the same order, on two sockets of one
protocol: once with the view handing subscriptions over, once without. Every message the
two receive (first result, each new version, a renderer that gives up, a failed read, the
end) must be the same text, and closing them must leave nothing registered.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
from typing import Any

import pytest
from prometheus_client import REGISTRY

from orderly.compact_subscriptions import DELIVERIES, SAME_AS_VIEW, CompactOperation, OrderOfView
from orderly.graphql_view import OrderlyGraphQL
from orderly.metrics_settings import MetricsSettings
from resolvers.subscription_tally import SUBSCRIPTIONS
from schema.types import Order
from tests.api.operations import ADD_ITEM, CANCEL, CREATE, order_input
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket, WsSubscription, websocket
from tests.support.server import RunningServer

SCALARS = ["orderId", "customerId", "status", "itemCount", "totalAmount", "version", "createdAt",
           "shippedAt", "cancelledAt", "cancelReason", "__typename"]
ITEM_FIELDS = ["productId", "quantity", "price", "lineTotal", "__typename"]
OPEN = "orderly_graphql_subscriptions_open"
ENDED = "orderly_graphql_operation_seconds_count"
ADDRESS_FIELDS = ["line1", "line2", "city", "postalCode", "country", "__typename"]


def _selection(rng: random.Random, fields: list[str], flags: list[str]) -> str:
    chosen = rng.sample(fields, rng.randint(1, len(fields)))
    parts = []
    for field in chosen:
        text = f"a{rng.randrange(1000)}: {field}" if rng.random() < 0.2 and field != "__typename" else field
        if rng.random() < 0.15:
            flag = f"f{len(flags)}"
            flags.append(flag)
            text += f" @include(if: ${flag})"
        parts.append(text)
    return " ".join(parts)


def generated_document(seed: int) -> tuple[str, dict[str, Any]]:
    """A random orderUpdated document (aliases, fragments, @include with variables, __typename) and its flags."""
    rng = random.Random(seed)
    flags: list[str] = []
    parts = [_selection(rng, SCALARS, flags)]
    if rng.random() < 0.6:
        parts.append(f"items {{ {_selection(rng, ITEM_FIELDS, flags)} }}")
    if rng.random() < 0.5:
        parts.append(f"shippingAddress {{ {_selection(rng, ADDRESS_FIELDS, flags)} }}")
    fragment = ""
    if rng.random() < 0.4:
        fragment = f" fragment F on Order {{ {_selection(rng, SCALARS, flags)} }}"
        parts.append("...F")
    if rng.random() < 0.3:
        parts.append(f"... on Order {{ {_selection(rng, ['version', 'status', 'itemCount'], flags)} }}")
    root = "orderUpdated" if rng.random() < 0.7 else "watched: orderUpdated"
    declared = "".join(f", ${flag}: Boolean!" for flag in flags)
    query = f"subscription S($id: ID!{declared}) {{ {root}(orderId: $id) {{ {' '.join(parts)} }} }}{fragment}"
    return query, {flag: rng.random() < 0.5 for flag in flags}


async def _raw(subscription: WsSubscription, timeout: float = 10.0) -> str:
    """The next message of the subscription as the server wrote it (key order included)."""
    return json.dumps(await subscription._receive(timeout))  # noqa: SLF001


async def _create(api: RunningServer, count: int) -> list[str]:
    order_ids = [(await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"] for _ in range(count)]
    for order_id in order_ids:
        await api.gql.data("query($id: ID!) { order(orderId: $id, minVersion: 1, waitMs: 5000) { version } }", {"id": order_id})
    return order_ids


async def _pairs(
    monkeypatch: pytest.MonkeyPatch,
    compact: GraphQLWebSocket,
    plain: GraphQLWebSocket,
    documents: list[tuple[str, dict[str, Any], str]],
) -> list[tuple[WsSubscription, WsSubscription]]:
    """Each document subscribed on both roads; their first messages compared."""
    pairs = []
    for query, flags, order_id in documents:
        monkeypatch.setattr(OrderlyGraphQL, "compact_subscriptions", True)
        handed = await compact.subscribe(query, {"id": order_id, **flags})
        first = await _raw(handed)
        monkeypatch.setattr(OrderlyGraphQL, "compact_subscriptions", False)
        kept = await plain.subscribe(query, {"id": order_id, **flags})
        assert await _raw(kept) == first, query
        pairs.append((handed, kept))
    monkeypatch.setattr(OrderlyGraphQL, "compact_subscriptions", True)
    return pairs


async def _nothing_left(api: RunningServer) -> tuple[int, int, int]:
    tracker = api.container.tracker
    assert tracker is not None
    state = (-1, -1, -1)
    for _ in range(200):
        state = (tracker.listener_count(), SUBSCRIPTIONS.open, DELIVERIES.open)
        if state == (0, 0, 0):
            break
        await asyncio.sleep(0.05)
    return state


def _compact_operations() -> list[CompactOperation]:
    return [item for item in gc.get_objects() if type(item) is CompactOperation and not item.completed]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_handed_over_subscriptions_send_what_strawberry_sends(
    api: RunningServer, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_ids = await _create(api, 3)
    documents = [(*generated_document(seed), order_ids[seed % 3]) for seed in range(24)]
    opened = DELIVERIES.open
    async with websocket(api.url, protocol) as compact, websocket(api.url, protocol) as plain:
        pairs = await _pairs(monkeypatch, compact, plain, documents)
        assert DELIVERIES.open - opened == len(documents)  # every one was handed over on the compact socket

        for step, order_id in enumerate([*order_ids, order_ids[0]]):
            if step == 3:
                await api.gql.data(CANCEL, {"input": {"orderId": order_id, "reason": "differential"}})
            else:
                item = {"orderId": order_id, "productId": f"p{step}", "quantity": 2, "price": "1.25"}
                await api.gql.data(ADD_ITEM, {"input": item})
            for (handed, kept), (_, _, watched) in zip(pairs, documents, strict=True):
                if watched == order_id:
                    assert await _raw(handed) == await _raw(kept)

        # A renderer that gives up: graphql-core's executor answers, as on strawberry's road.
        def gives_up(source: Any) -> dict[str, Any]:
            raise ValueError("not this one")

        for operation in _compact_operations():
            operation.handoff.renderer = gives_up
        await api.gql.data(ADD_ITEM, {"input": {"orderId": order_ids[1], "productId": "late", "quantity": 1, "price": "3"}})
        for (handed, kept), (_, _, watched) in zip(pairs, documents, strict=True):
            if watched == order_ids[1]:
                assert await _raw(handed) == await _raw(kept)

        # Half of them stopped by the client: the same answer (legacy: `complete`; graphql-transport-ws: none).
        for handed, kept in pairs[::2]:
            await handed.stop()
            await kept.stop()
            if protocol == LEGACY_WS:
                assert await _raw(handed) == await _raw(kept)
        await asyncio.sleep(0.1)
        assert DELIVERIES.open - opened == len(pairs[1::2])
    assert await _nothing_left(api) == (0, 0, 0)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_failed_read_ends_both_the_same_way(api: RunningServer, protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (order_id,) = await _create(api, 1)
    query = "subscription($id: ID!) { orderUpdated(orderId: $id) { orderId version itemCount } }"
    async with websocket(api.url, protocol) as compact, websocket(api.url, protocol) as plain:
        ((handed, kept),) = await _pairs(monkeypatch, compact, plain, [(query, {}, order_id)])
        reader = type(_compact_operations()[0].watch.reader)

        async def broken(self: Any, wanted: str) -> Any:
            raise RuntimeError("the read model is gone")

        monkeypatch.setattr(reader, "get", broken)
        await api.gql.data(ADD_ITEM, {"input": {"orderId": order_id, "productId": "p", "quantity": 1, "price": "1"}})
        failed = await _raw(handed)
        assert failed == await _raw(kept)
        assert "INTERNAL_SERVER_ERROR" in failed and "the read model is gone" not in failed  # masked
        assert await _raw(handed) == await _raw(kept)  # complete
    assert await _nothing_left(api) == (0, 0, 0)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("compact", [True, False])
async def test_metrics_count_a_handed_over_subscription_as_strawberry_counts_it(
    server_factory: Any, compact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OrderlyGraphQL, "compact_subscriptions", compact)
    labels = {"operation": "Watched", "type": "subscription"}
    async with server_factory(metrics=MetricsSettings(enabled=True)) as api:
        (order_id,) = await _create(api, 1)
        query = "subscription Watched($id: ID!) { orderUpdated(orderId: $id) { orderId version } }"
        opened, ended = _sample(OPEN), _sample(ENDED, **labels)
        async with websocket(api.url, TRANSPORT_WS) as ws:
            subscription = await ws.subscribe(query, {"id": order_id})
            assert (await subscription.next_message())[0] == "next"
            assert DELIVERIES.open == (1 if compact else 0)
            assert (_sample(OPEN) - opened, _sample(ENDED, **labels) - ended) == (1, 0)
            await subscription.stop()
            for _ in range(100):
                if _sample(OPEN) == opened:
                    break
                await asyncio.sleep(0.02)
            assert (_sample(OPEN) - opened, _sample(ENDED, **labels) - ended) == (0, 1)
        assert await _nothing_left(api) == (0, 0, 0)


async def test_the_attributes_read_from_the_view_are_the_views_own(api: RunningServer) -> None:
    (order_id,) = await _create(api, 1)
    view = await api.container.services.order_reader.get(order_id)
    assert view is not None
    order, lazy = Order.from_view(view), OrderOfView(view)
    for name in SAME_AS_VIEW:
        assert getattr(order, name) is getattr(view, name), name
        assert getattr(lazy, name) is getattr(view, name), name
    assert lazy.items == order.items and lazy.order() is lazy.order()
