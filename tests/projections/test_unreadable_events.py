"""On SQLite and PostgreSQL: an event this code cannot decode parks its stream like any poison event.

Written straight into the log (a newer release's event type, or data that lost a field),
it no longer stalls the projection: the runner's plan refuses it, parking takes its order
after the retries, every other order goes on. The write path still refuses the order, and
nothing is written. A skip passes the event; a retry once it reads replays it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from domain.command_bus import CommandBus
from domain.events import OrderCancelled, OrderShipped
from domain.ports import UnreadableEventError
from eventstore.codec import UnknownEventTypeError
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from eventstore.sql_store import SqlEventStore
from eventstore.tables import events
from projections.checkpoints import read_checkpoint
from projections.parked_streams import ParkingRequest
from projections.parking_desk import ParkingDesk
from projections.read_models import ReadModelStore
from projections.runner import ProjectionRunner
from tests.projections.builders import T0, add_item, create_order, item, new_id
from tests.projections.conftest import RunnerFactory
from tests.projections.test_parking import append, parked, view, visible

PROJECTIONS = ("order_views", "customer_summaries")


@dataclass(frozen=True)
class Unreadable:
    """A stored event this code cannot decode, and what parking records for it."""

    type_name: str
    data: dict[str, Any]
    error: str
    raised: type[Exception]  # what the write path raises for the order


def gift_wrapped(order_id: str) -> Unreadable:
    """An event type a newer release writes and this one does not know."""
    return Unreadable(
        type_name="order.gift_wrapped",
        data={"order_id": order_id, "paper": "red", "occurred_at": T0.isoformat()},
        error="UnreadableEventError: UnknownEventTypeError: unknown event type 'order.gift_wrapped'",
        raised=UnknownEventTypeError,
    )


def item_lost(order_id: str) -> Unreadable:
    """A known type whose data lost a field (a hand edit, a bad migration)."""
    return Unreadable(
        type_name="order.item_added",
        data={"order_id": order_id, "occurred_at": T0.isoformat()},
        error="UnreadableEventError: ValueError: OrderItemAdded data lacks item",
        raised=ValueError,
    )


async def insert_unreadable(database: Database, order_id: str, version: int, unreadable: Unreadable) -> int:
    """Write the event straight into the log; its position."""
    async with database.write_engine.begin() as conn:
        result = await conn.execute(
            insert(events)
            .values(
                event_id=str(uuid.uuid4()),
                stream_id=order_id,
                stream_type="order",
                version=version,
                type_name=unreadable.type_name,
                schema_version=1,
                data=unreadable.data,
                occurred_at=T0,
                command_id=None,
            )
            .returning(events.c.position)
        )
        return int(result.scalar_one())


async def stream_length(database: Database, order_id: str) -> int:
    async with database.engine.connect() as conn:
        count = await conn.execute(select(func.count()).select_from(events).where(events.c.stream_id == order_id))
        return int(count.scalar_one())


class Orders:
    """Two orders of one customer: `good`, and `bad` whose version 2 cannot be decoded, shipped behind it."""

    def __init__(self, kind: str) -> None:
        self.customer = new_id("cust")
        self.good = new_id("order")
        self.bad = new_id("order")
        self.unreadable = gift_wrapped(self.bad) if kind == "unknown type" else item_lost(self.bad)
        self.position = 0

    async def write(self, database: Database, commands: CommandBus, store: SqlEventStore) -> None:
        await commands.dispatch(create_order(self.good, self.customer, item("a", 1, "1.00")))
        await commands.dispatch(create_order(self.bad, self.customer, item("b", 1, "2.00")))
        self.position = await insert_unreadable(database, self.bad, 2, self.unreadable)
        await append(store, self.bad, 2, OrderShipped(order_id=self.bad, occurred_at=T0 + timedelta(days=1)))
        await commands.dispatch(add_item(self.good, item("c", 2, "0.50")))
        await visible(store)


@pytest.fixture(params=["unknown type", "missing field"])
async def orders(request: pytest.FixtureRequest, database: Database, commands: CommandBus, store: SqlEventStore) -> Orders:
    written = Orders(str(request.param))
    await written.write(database, commands, store)
    return written


async def park_both(make_runner: RunnerFactory) -> list[ProjectionRunner]:
    """Both projections fail once on the unreadable event (the retry), then park its order and go on."""
    runners = [make_runner(name, park_after=1) for name in PROJECTIONS]
    for runner in runners:
        with pytest.raises(UnreadableEventError):
            await runner.catch_up()
        await runner.catch_up()
    return runners


async def test_an_unreadable_event_parks_only_its_order_and_the_write_path_refuses_that_order(
    database: Database,
    read_models: ReadModelStore,
    store: SqlEventStore,
    commands: CommandBus,
    orders: Orders,
    make_runner: RunnerFactory,
) -> None:
    runners = await park_both(make_runner)

    good, bad = await view(read_models, orders.good), await view(read_models, orders.bad)
    assert (good.version, good.total_amount, good.item_count) == (2, Decimal("2.00"), 3)
    assert (bad.version, bad.status) == (1, "CREATED")
    rows = await parked(read_models)
    assert sorted((row.projection, row.stream_id, row.version, row.position, row.event_type, row.error) for row in rows) == [
        (name, orders.bad, 2, orders.position, orders.unreadable.type_name, orders.unreadable.error)
        for name in sorted(PROJECTIONS)
    ]
    head = await store.head_position()
    async with database.engine.connect() as conn:
        for runner in runners:
            checkpoint = await read_checkpoint(conn, runner.name)
            assert checkpoint is not None and checkpoint.position == head
            assert runner.parked == {orders.bad: 2}

    # The write path cannot fold the order: the command fails loudly and writes nothing.
    with pytest.raises(orders.unreadable.raised):
        await commands.dispatch(add_item(orders.bad, item("d", 1, "1.00")))
    assert await stream_length(database, orders.bad) == 3


async def test_a_skip_passes_the_unreadable_event_and_later_events_of_the_order_apply(
    database: Database,
    read_models: ReadModelStore,
    store: SqlEventStore,
    bus: InProcessBus,
    orders: Orders,
    make_runner: RunnerFactory,
) -> None:
    runners = await park_both(make_runner)

    await ParkingDesk(read_models, bus).request(orders.bad, ParkingRequest.SKIP)
    for runner in runners:
        await runner.catch_up()

    assert await parked(read_models) == []
    bad = await view(read_models, orders.bad)
    assert (bad.version, bad.status, bad.total_amount) == (3, "SHIPPED", Decimal("2.00"))
    await append(store, orders.bad, 3, OrderCancelled(order_id=orders.bad, reason="late", occurred_at=T0))
    await visible(store)
    for runner in runners:
        await runner.catch_up()
    assert (await view(read_models, orders.bad)).status == "CANCELLED"


async def test_a_retry_once_the_event_reads_replays_it(
    database: Database, read_models: ReadModelStore, bus: InProcessBus, orders: Orders, make_runner: RunnerFactory
) -> None:
    runners = await park_both(make_runner)

    # What a deploy that reads the event does, done to the row: it now decodes as an item added.
    line = {"product_id": "e", "quantity": 1, "price": "3.00"}
    readable = {"order_id": orders.bad, "item": line, "occurred_at": T0.isoformat()}
    async with database.write_engine.begin() as conn:
        await conn.execute(
            update(events)
            .where(events.c.stream_id == orders.bad, events.c.version == 2)
            .values(type_name="order.item_added", data=readable)
        )
    await ParkingDesk(read_models, bus).request(orders.bad, ParkingRequest.RETRY)
    for runner in runners:
        await runner.catch_up()

    assert await parked(read_models) == []
    bad = await view(read_models, orders.bad)
    assert (bad.version, bad.status, bad.total_amount, [line.product_id for line in bad.items]) == (
        3, "SHIPPED", Decimal("5.00"), ["b", "e"],
    )
