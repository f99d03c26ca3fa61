"""Handed-over orderProjected waits (orderly/compact_projected.py) against strawberry's road.

Each document is subscribed twice on the same order, on two sockets of one protocol: once
with the view handing waits over, once without. Every message the two receive (the order
once it reaches minVersion, a timeout, a parking, a failed read, the end) must be the same
text; the metrics must move the same way; and nothing may stay registered afterwards.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Awaitable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from orderly.compact_projected import RENDERED, ProjectedOperation
from orderly.compact_subscriptions import DELIVERIES
from orderly.graphql_view import OrderlyGraphQL
from orderly.metrics_settings import MetricsSettings
from resolvers.subscription_tally import SUBSCRIPTIONS
from tests.api.operations import ADD_ITEM
from tests.api.test_compact_subscriptions import _create, _nothing_left, generated_document
from tests.projections.test_parking import insert_poison
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket, WsSubscription, websocket
from tests.support.server import RunningServer

OPEN = "orderly_graphql_subscriptions_open"
ENDED = "orderly_graphql_operation_seconds_count"
WAITS = "orderly_consistency_wait_seconds_count"


def projected_document(seed: int, arguments: str) -> tuple[str, dict[str, Any]]:
    """A random orderProjected document (aliases, fragments, @include, __typename) with these arguments."""
    query, flags = generated_document(seed)
    return query.replace("orderUpdated(orderId: $id)", f"orderProjected(orderId: $id, {arguments})"), flags


async def _raw(subscription: WsSubscription, timeout: float = 10.0) -> str:
    return json.dumps(await subscription._receive(timeout))  # noqa: SLF001


def _waiting() -> list[ProjectedOperation]:
    return [item for item in gc.get_objects() if type(item) is ProjectedOperation and not item.completed]


async def _both(
    monkeypatch: pytest.MonkeyPatch, compact: GraphQLWebSocket, plain: GraphQLWebSocket, query: str, variables: dict[str, Any]
) -> tuple[WsSubscription, WsSubscription]:
    """The document subscribed on both roads; each operation has begun (its resolver runs, after the
    handler decided whether to offer a handoff) before the setting changes."""
    monkeypatch.setattr(OrderlyGraphQL, "compact_subscriptions", True)
    handed = await _begun(compact.subscribe(query, variables))
    monkeypatch.setattr(OrderlyGraphQL, "compact_subscriptions", False)
    kept = await _begun(plain.subscribe(query, variables))
    monkeypatch.setattr(OrderlyGraphQL, "compact_subscriptions", True)
    return handed, kept


async def _begun(subscribing: Awaitable[WsSubscription]) -> WsSubscription:
    opened = SUBSCRIPTIONS.opened
    subscription = await subscribing
    for _ in range(500):
        if SUBSCRIPTIONS.opened > opened:
            return subscription
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription's resolver did not begin")


async def _handed_over(count: int) -> None:
    for _ in range(200):
        if len(_waiting()) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(_waiting())} of {count} waits were handed over")


def _recorded_handoffs(monkeypatch: pytest.MonkeyPatch) -> list[ProjectedOperation]:
    """Every ProjectedOperation the handlers start from now on (the test's monkeypatch undoes it)."""
    started: list[ProjectedOperation] = []
    start = ProjectedOperation.start

    def recorded(self: ProjectedOperation) -> None:
        started.append(self)
        start(self)

    monkeypatch.setattr(ProjectedOperation, "start", recorded)
    return started


async def _started(started: list[ProjectedOperation], count: int) -> None:
    """Until this many waits were handed over, whether or not they have ended since."""
    for _ in range(1000):
        if len(started) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(started)} of {count} waits were handed over")


async def _add_item(api: RunningServer, order_id: str, product: str = "p") -> None:
    await api.gql.data(ADD_ITEM, {"input": {"orderId": order_id, "productId": product, "quantity": 2, "price": "1.25"}})


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_handed_over_wait_sends_what_strawberry_sends_when_the_version_comes(
    api: RunningServer, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_ids = await _create(api, 2)
    # Each document on both orders: the first result renders through graphql-core, the second with its renderer.
    documents = [
        (*projected_document(seed, "minVersion: 2, timeoutMs: 20000"), order_id) for seed in range(12) for order_id in order_ids
    ]
    async with websocket(api.url, protocol) as compact, websocket(api.url, protocol) as plain:
        pairs = [
            await _both(monkeypatch, compact, plain, query, {"id": order_id, **flags}) for query, flags, order_id in documents
        ]
        await _handed_over(len(documents))
        assert len(_waiting()) == len(documents)  # on the compact socket only

        rendered = len(RENDERED)
        for order_id in order_ids:
            await _add_item(api, order_id)
            for (handed, kept), (_, _, projected) in zip(pairs, documents, strict=True):
                if projected == order_id:
                    assert await _raw(handed) == await _raw(kept)  # the order at version 2
                    assert await _raw(handed) == await _raw(kept)  # complete
        assert len(RENDERED) > rendered  # some documents (those without @include variables) left their renderer
        # Reached at once: strawberry's road, nothing handed over.
        reached = [
            await _both(monkeypatch, compact, plain, query, {"id": order_id, **flags}) for query, flags, order_id in documents[:4]
        ]
        assert _waiting() == []
        for handed, kept in reached:
            assert await _raw(handed) == await _raw(kept)
            assert await _raw(handed) == await _raw(kept)
    assert await _nothing_left(api) == (0, 0, 0)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_timeout_a_failed_read_and_a_stop_end_both_the_same_way(
    api: RunningServer, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id, other = await _create(api, 2)
    query = "subscription($id: ID!, $t: Int) { orderProjected(orderId: $id, minVersion: 5, timeoutMs: $t) { orderId version } }"
    async with websocket(api.url, protocol) as compact, websocket(api.url, protocol) as plain:
        # The 1,500 ms wait may end before the others are handed over (a loaded machine): the handoffs
        # are counted as they start, not looked for among the waits still open.
        started = _recorded_handoffs(monkeypatch)
        timed = await _both(monkeypatch, compact, plain, query, {"id": order_id, "t": 1500})
        stopped = await _both(monkeypatch, compact, plain, query, {"id": other, "t": 20000})
        failing = await _both(monkeypatch, compact, plain, query, {"id": order_id, "t": 20000})
        await _started(started, 3)

        handed, kept = timed
        ended = await _raw(handed)
        assert ended == await _raw(kept)
        assert "CONSISTENCY_TIMEOUT" in ended
        assert await _raw(handed) == await _raw(kept)  # complete
        (timed_out,) = [operation for operation in started if operation.wait.timeout_ms == 1500]
        assert timed_out.expired and timed_out.completed  # its own timer ended it on the handler's road

        for subscription in stopped:
            await subscription.stop()
        if protocol == LEGACY_WS:
            assert await _raw(stopped[0]) == await _raw(stopped[1])  # complete

        reader = type(_waiting()[0].watch.reader)

        async def broken(self: Any, wanted: str) -> Any:
            raise RuntimeError("the read model is gone")

        monkeypatch.setattr(reader, "get", broken)
        await _add_item(api, order_id)
        handed, kept = failing
        failed = await _raw(handed)
        assert failed == await _raw(kept)
        assert "INTERNAL_SERVER_ERROR" in failed and "the read model is gone" not in failed  # masked
        assert await _raw(handed) == await _raw(kept)  # complete
        monkeypatch.undo()
    assert await _nothing_left(api) == (0, 0, 0)
    assert _waiting() == []


@pytest.mark.parametrize("backend", ["postgres"])  # the poison event is written the PostgreSQL way (test_parking.py)
@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_parking_while_waiting_ends_both_with_projection_failed(
    api: RunningServer, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (order_id,) = await _create(api, 1)
    query = "subscription($id: ID!) { orderProjected(orderId: $id, minVersion: 3, timeoutMs: 20000) { version } }"
    async with websocket(api.url, protocol) as compact, websocket(api.url, protocol) as plain:
        handed, kept = await _both(monkeypatch, compact, plain, query, {"id": order_id})
        await _handed_over(1)
        await insert_poison(api.container.database, order_id, 2)
        ended = await _raw(handed, timeout=20.0)
        assert ended == await _raw(kept, timeout=20.0)
        assert "PROJECTION_FAILED" in ended
        assert await _raw(handed) == await _raw(kept)  # complete
    assert await _nothing_left(api) == (0, 0, 0)


async def _eventually_open(count: int) -> None:
    for _ in range(200):
        if SUBSCRIPTIONS.open >= count:
            return
        await asyncio.sleep(0.02)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("compact", [True, False])
async def test_metrics_count_a_handed_over_wait_as_strawberry_counts_it(
    server_factory: Any, compact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OrderlyGraphQL, "compact_subscriptions", compact)
    labels = {"operation": "Projected", "type": "subscription"}
    query = (
        "subscription Projected($id: ID!, $v: Int!) { orderProjected(orderId: $id, minVersion: $v, timeoutMs: 2000) { version } }"
    )
    async with server_factory(metrics=MetricsSettings(enabled=True)) as api:
        (order_id,) = await _create(api, 1)
        before = {
            "open": _sample(OPEN), "ended": _sample(ENDED, **labels),
            "reached": _sample(WAITS, kind="order_version", outcome="reached"),
            "timed_out": _sample(WAITS, kind="order_version", outcome="timed_out"),
            "cancelled": _sample(WAITS, kind="order_version", outcome="cancelled"),
        }
        async with websocket(api.url, TRANSPORT_WS) as ws:
            reached = await ws.subscribe(query, {"id": order_id, "v": 2})
            timed = await ws.subscribe(query, {"id": order_id, "v": 9})
            stopped = await ws.subscribe(query.replace("2000", "20000"), {"id": order_id, "v": 9})
            if compact:
                await _handed_over(3)
            else:
                await _eventually_open(3)
            assert SUBSCRIPTIONS.open == 3 and _sample(OPEN) - before["open"] == 3
            assert DELIVERIES.open == (3 if compact else 0)
            await _add_item(api, order_id)
            assert (await reached.next_message())[0] == "next"
            assert (await timed.next_message())[0] in {"next", "error"}
            await stopped.stop()
            for _ in range(100):
                if _sample(OPEN) == before["open"]:
                    break
                await asyncio.sleep(0.02)
        after = {
            "open": _sample(OPEN), "ended": _sample(ENDED, **labels),
            "reached": _sample(WAITS, kind="order_version", outcome="reached"),
            "timed_out": _sample(WAITS, kind="order_version", outcome="timed_out"),
            "cancelled": _sample(WAITS, kind="order_version", outcome="cancelled"),
        }
        assert {key: after[key] - before[key] for key in before} == {
            "open": 0, "ended": 3, "reached": 1, "timed_out": 1, "cancelled": 1,
        }
        assert await _nothing_left(api) == (0, 0, 0)
