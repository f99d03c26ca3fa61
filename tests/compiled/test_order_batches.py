"""Order reads batched across requests (schema/order_batches.py): every reader gets what a read
of its own gives, and the reads of one event-loop turn are one get_many."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from domain.errors import ServiceUnavailableError
from orderly.auth.settings import AuthSettings
from orderly.metrics_settings import MetricsSettings
from schema.order_batches import BatchedOrderQueries
from tests.api.authorization_support import SECRET
from tests.api.operations import ORDER_FIELDS
from tests.compiled.test_http_road import create, customer
from tests.support.server import RunningServer, running_server, server_settings


def _view(order_id: str) -> Any:
    return ("view", order_id)  # the batcher hands views over untouched: any object will do


class BadRowError(Exception):
    """A row from_row refuses."""


class FakeOrders:
    """get and get_many over a dict; ids in `bad` fail as from_row fails on a bad row."""

    def __init__(self, ids: Iterable[str], *, bad: Iterable[str] = (), unavailable: bool = False) -> None:
        self.views = {order_id: _view(order_id) for order_id in ids}
        self.bad = set(bad)
        self.unavailable = unavailable
        self.many_calls: list[list[str]] = []
        self.single_calls: list[str] = []

    async def get(self, order_id: str) -> Any:
        self.single_calls.append(order_id)
        await asyncio.sleep(0)
        if self.unavailable:
            raise ServiceUnavailableError("The database cannot be reached")
        if order_id in self.bad:
            raise BadRowError(order_id)
        return self.views.get(order_id)

    async def get_many(self, order_ids: Iterable[str]) -> dict[str, Any]:
        ids = list(order_ids)
        self.many_calls.append(ids)
        await asyncio.sleep(0)
        if self.unavailable:
            raise ServiceUnavailableError("The database cannot be reached")
        if self.bad & set(ids):
            raise BadRowError(sorted(self.bad & set(ids))[0])
        return {order_id: self.views[order_id] for order_id in ids if order_id in self.views}


async def outcomes(reader: Any, ids: list[str]) -> list[Any]:
    results = await asyncio.gather(*(reader.get(order_id) for order_id in ids), return_exceptions=True)
    return [(type(r).__name__, str(r)) if isinstance(r, BaseException) else r for r in results]


async def lone_outcomes(orders: FakeOrders, ids: list[str]) -> list[Any]:
    """What each read gives when it runs alone."""
    results = []
    for order_id in ids:
        try:
            results.append(await orders.get(order_id))
        except Exception as error:  # noqa: BLE001
            results.append((type(error).__name__, str(error)))
    return results


IDS = ["o-1", "o-2", "missing", "o-1", "o-3"]


async def test_the_reads_of_one_turn_are_one_get_many_and_each_reader_gets_its_own_answer() -> None:
    orders = FakeOrders(["o-1", "o-2", "o-3"])
    batched = BatchedOrderQueries(orders)
    assert await outcomes(batched, IDS) == await lone_outcomes(FakeOrders(["o-1", "o-2", "o-3"]), IDS)
    assert orders.many_calls == [["o-1", "o-2", "missing", "o-3"]]
    assert orders.single_calls == []


async def test_reads_of_later_turns_are_later_batches() -> None:
    orders = FakeOrders(["o-1", "o-2"])
    batched = BatchedOrderQueries(orders)
    assert await batched.get("o-1") == _view("o-1")
    assert await batched.get("o-2") == _view("o-2")
    assert orders.many_calls == [["o-1"], ["o-2"]]


async def test_a_full_batch_opens_the_next() -> None:
    orders = FakeOrders([f"o-{n}" for n in range(5)])
    batched = BatchedOrderQueries(orders, max_batch=2)
    ids = [f"o-{n}" for n in range(5)]
    assert await outcomes(batched, ids) == [_view(order_id) for order_id in ids]
    assert orders.many_calls == [["o-0", "o-1"], ["o-2", "o-3"], ["o-4"]]


async def test_a_bad_row_fails_only_its_own_reader() -> None:
    ids = ["o-1", "bad", "o-2", "bad", "missing"]
    orders = FakeOrders(["o-1", "o-2", "bad"], bad=["bad"])
    results = await outcomes(BatchedOrderQueries(orders), ids)
    assert results == await lone_outcomes(FakeOrders(["o-1", "o-2", "bad"], bad=["bad"]), ids)
    assert results[1] == ("BadRowError", "bad") and results[0] == _view("o-1")


async def test_an_unreachable_database_fails_every_reader_with_an_error_of_its_own() -> None:
    orders = FakeOrders(["o-1"], unavailable=True)
    batched = BatchedOrderQueries(orders)
    results = await asyncio.gather(*(batched.get(order_id) for order_id in ["o-1", "o-1", "o-2"]), return_exceptions=True)
    assert all(isinstance(r, ServiceUnavailableError) and str(r) == "The database cannot be reached" for r in results)
    assert len({id(r) for r in results}) == 3
    assert orders.single_calls == []  # not read again one at a time


async def test_a_reader_that_gives_up_leaves_the_others_alone() -> None:
    orders = FakeOrders(["o-1", "o-2"])
    batched = BatchedOrderQueries(orders)
    first = asyncio.ensure_future(batched.get("o-1"))
    second = asyncio.ensure_future(batched.get("o-2"))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == _view("o-2")
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_batch_whose_readers_all_gave_up_is_not_read() -> None:
    orders = FakeOrders(["o-1"])
    batched = BatchedOrderQueries(orders)
    reader = asyncio.ensure_future(batched.get("o-1"))
    await asyncio.sleep(0)  # the reader has joined a batch
    reader.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert orders.many_calls == []


def test_one_reader_serves_event_loops_one_after_another() -> None:
    orders = FakeOrders(["o-1"])
    batched = BatchedOrderQueries(orders)
    assert asyncio.run(batched.get("o-1")) == _view("o-1")
    assert asyncio.run(batched.get("o-1")) == _view("o-1")


# Over HTTP, on both backends: the order read takes the batched reader, and reads that ran
# together answer byte for byte what the same reads answer one at a time.

WAIT = "query Wait($id: ID!) { order(orderId: $id, minVersion: 1, waitMs: 10000) { orderId } }"
ORDER_READ = f"query OrderRead($id: ID!) {{ order(orderId: $id) {{ {ORDER_FIELDS} }} }}"


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[RunningServer]:
    settings = server_settings(database_url, auth=AuthSettings(jwt_secret=SECRET), metrics=MetricsSettings(enabled=True))
    async with running_server(settings) as running:
        yield running


async def read(server: RunningServer, order_id: str, headers: dict[str, str]) -> bytes:
    response = await server.http.post(server.url, json={"query": ORDER_READ, "variables": {"id": order_id}}, headers=headers)
    assert response.status_code == 200
    return response.content


async def test_order_reads_over_http_take_the_batched_reader_and_answer_as_alone(server: RunningServer) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    mine = [await create(server, alice) for _ in range(3)]
    theirs = await create(server, bob)
    ids = [*mine, theirs, f"missing-{uuid.uuid4().hex[:6]}", mine[0]]
    headers = customer(alice)
    for order_id in mine:  # projected before anything is compared
        waited = await server.http.post(server.url, json={"query": WAIT, "variables": {"id": order_id}}, headers=headers)
        assert waited.json()["data"]["order"]["orderId"] == order_id
    await read(server, mine[0], headers)  # the document is compiled from here on
    before = BatchedOrderQueries.batches
    alone = [await read(server, order_id, headers) for order_id in ids]
    assert BatchedOrderQueries.batches == before + len(ids)  # one batch per read: every read took it
    assert json.loads(alone[0])["data"]["order"]["orderId"] == mine[0]
    assert json.loads(alone[3]) == {"data": {"order": None}}  # another customer's order stays hidden
    together = await asyncio.gather(*(read(server, order_id, headers) for order_id in ids))
    assert list(together) == alone
