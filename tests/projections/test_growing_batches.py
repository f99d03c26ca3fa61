"""A runner catching up grows its batches (projections/runner.py), on SQLite and PostgreSQL: the sizes it
reads, rows equal to a fold one event at a time, and a poison event in a grown batch parking only its stream."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from eventstore.sql_store import SqlEventStore
from projections.checkpoints import read_checkpoint
from projections.generations import physical_name
from projections.read_models import ReadModelStore
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner
from tests.projections.builders import add_item, cancel_order, create_order, item, new_id, ship_order
from tests.projections.conftest import RunnerFactory
from tests.projections.test_parking import Orders, parked, view
from tests.projections.test_runner import visible


class RecordingLog:
    """The store's log, remembering the limit of every read."""

    def __init__(self, store: SqlEventStore) -> None:
        self.store = store
        self.limits: list[int] = []

    async def read_log(self, after: int, limit: int) -> list[RecordedEvent]:
        self.limits.append(limit)
        return list(await self.store.read_log(after, limit))

    async def head_position(self) -> int:
        return await self.store.head_position()


async def _history(commands: CommandBus, orders: int) -> None:
    customers = [new_id("cust") for _ in range(3)]
    ids = [new_id("order") for _ in range(orders)]
    for index, order_id in enumerate(ids):
        await commands.dispatch(create_order(order_id, customers[index % 3], item("a", 1, f"{index}.10")))
    for index, order_id in enumerate(ids):  # interleaved, as a busy log is: one batch holds many orders
        await commands.dispatch(add_item(order_id, item("b", 2, "0.45")))
        if index % 3 == 1:
            await commands.dispatch(ship_order(order_id))
        if index % 3 == 2:
            await commands.dispatch(cancel_order(order_id, "changed my mind"))


async def _rows(read_models: ReadModelStore, name: str) -> dict[str, list[tuple[Any, ...]]]:
    async with read_models.reader.connect() as conn:
        return {
            table.name: [
                tuple(row) for row in await conn.execute(text(f'SELECT * FROM "{physical_name(table.name, 1)}" ORDER BY 1'))
            ]
            for table in PROJECTIONS[name].tables
        }


@pytest.fixture
async def orders(database: Database, commands: CommandBus, store: SqlEventStore) -> Orders:
    written = Orders()
    await written.write(database, commands, store)
    return written


def test_a_max_batch_size_below_the_batch_size_is_refused(read_models: ReadModelStore, store: SqlEventStore) -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        ProjectionRunner(
            "order_views", PROJECTIONS["order_views"], read_models, store, InProcessBus(), batch_size=4, max_batch_size=2
        )


async def test_catching_up_doubles_the_batches_up_to_the_maximum_and_a_live_batch_starts_small_again(
    commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    await _history(commands, 6)  # 6 created, 6 items added, 2 shipped, 2 cancelled: 16 events
    await visible(store)
    log = RecordingLog(store)
    runner = make_runner("order_views", store=log, batch_size=1, max_batch_size=4)

    assert await runner.catch_up() == 16
    assert log.limits == [1, 2, 4, 4, 4, 4]  # 1 + 2 + 4 + 4 + 4 = 15 full, then 1 of 4: short
    await commands.dispatch(create_order(new_id("order"), new_id("cust")))
    await visible(store)
    log.limits.clear()
    assert await runner.catch_up() == 1
    assert log.limits == [1, 2]


@pytest.mark.parametrize("name", list(PROJECTIONS))
async def test_rows_after_grown_batches_equal_a_fold_one_event_at_a_time(
    name: str, read_models: ReadModelStore, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    await _history(commands, 9)
    await visible(store)
    assert await make_runner(name, batch_size=2, max_batch_size=64).catch_up() == 9 * 2 + 6
    grown = await _rows(read_models, name)
    assert all(grown.values())

    await rebuild(read_models, name)  # clears the tables, checkpoint to 0
    assert not any((await _rows(read_models, name)).values())
    assert await make_runner(name, batch_size=1).catch_up() == 9 * 2 + 6
    assert await _rows(read_models, name) == grown


async def test_a_poison_event_in_a_grown_batch_parks_only_its_stream(
    database: Database, read_models: ReadModelStore, store: SqlEventStore, orders: Orders, make_runner: RunnerFactory
) -> None:
    # The log: good created, bad created, bad's poison, bad shipped, good item added.
    log = RecordingLog(store)
    runner = make_runner("order_views", store=log, batch_size=1, max_batch_size=8, park_after=1)
    with pytest.raises(AttributeError):
        await runner.catch_up()  # [1] applies; [2, 3] fails on the poison
    await runner.catch_up()  # [2, 3] again: the poison's stream parks, the rest goes on

    # [2, 3] read at 2 (its successor read ahead at 4, discarded when it failed), then retried at its own size
    assert log.limits[:4] == [1, 2, 4, 2]
    good, bad = await view(read_models, orders.good), await view(read_models, orders.bad)
    assert (good.version, good.item_count) == (2, 3)
    assert (bad.version, bad.status) == (1, "CREATED")
    (row,) = await parked(read_models)
    assert (row.stream_id, row.version, row.position) == (orders.bad, 2, orders.poison_position)
    async with database.engine.connect() as conn:
        saved = await read_checkpoint(conn, "order_views")
    assert saved is not None and saved.position == await store.head_position()
