"""Parking on SQLite and PostgreSQL: a poison event parks its stream, the rest goes on; retry, skip, waits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, update

from domain.command_bus import CommandBus
from domain.errors import ServiceUnavailableError
from domain.events import Event, OrderCancelled, OrderShipped
from domain.ports import CommandStamp, RecordedEvent
from eventstore.bus import projection_channel
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from eventstore.messages import Notice, StreamParked, decode, encode
from eventstore.sql_store import SqlEventStore
from eventstore.tables import events
from orderly.bootstrap import open_read_models
from projections.changes import BatchChanges
from projections.checkpoints import ProjectionState, read_checkpoint
from projections.consistency import StreamParkedError, wait_for_order_version
from projections.customer_summaries.queries import CustomerSummaryQueries
from projections.order_views.queries import OrderView, OrderViewQueries
from projections.parked_streams import ParkedStream, ParkingRequest
from projections.parking_desk import ParkingDesk
from projections.projector import Projector
from projections.read_models import KeyedRows, ReadModelStore
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from projections.status import projection_statuses
from projections.tracker import ProjectionTracker
from tests.projections.builders import T0, add_item, create_order, item, new_id, ship_order
from tests.projections.conftest import RunnerFactory, eventually

POISON_TYPE = "order.item_added"


async def insert_poison(database: Database, order_id: str, version: int) -> int:
    """An order.item_added event without its item, written straight into the log (as a bad
    deploy or a hand edit could); it decodes, but no projector can fold it. Its position."""
    async with database.write_engine.begin() as conn:
        result = await conn.execute(
            insert(events)
            .values(
                event_id=str(uuid.uuid4()),
                stream_id=order_id,
                stream_type="order",
                version=version,
                type_name=POISON_TYPE,
                schema_version=1,
                data={"order_id": order_id, "item": None, "occurred_at": T0.isoformat()},
                occurred_at=T0,
                command_id=None,
            )
            .returning(events.c.position)
        )
        return int(result.scalar_one())


async def repair_poison(database: Database, order_id: str, version: int) -> None:
    """Give the poison event the item it lacked (the fix an operator ships before a retry)."""
    data = {
        "order_id": order_id,
        "item": {"product_id": "fixed", "quantity": 3, "price": "1.00"},
        "occurred_at": T0.isoformat(),
    }
    async with database.write_engine.begin() as conn:
        await conn.execute(
            update(events).where(events.c.stream_id == order_id, events.c.version == version).values(data=data)
        )


async def append(store: SqlEventStore, order_id: str, expected_version: int, event: Event) -> None:
    """Append behind the poison (the store does not fold, so the stream can grow past it)."""
    stamp = CommandStamp(command_id=str(uuid.uuid4()), command_type="test", fingerprint="0" * 64)
    await store.append(order_id, "order", [event], expected_version=expected_version, command=stamp)


async def visible(store: SqlEventStore) -> None:
    """Wait until read_log shows every committed event (PostgreSQL hides some behind open transactions)."""
    head = await store.head_position()

    async def shown() -> bool:
        return len(await store.read_log(after=head - 1, limit=1)) == 1

    await eventually(shown)


async def parked(read_models: ReadModelStore) -> list[ParkedStream]:
    return await ParkingDesk(read_models, None).parked()


async def view(read_models: ReadModelStore, order_id: str) -> OrderView:
    found = await OrderViewQueries(read_models).get(order_id)
    assert found is not None
    return found


def drain(inbox_notices: list[Notice | None]) -> list[Notice]:
    return [notice for notice in inbox_notices if notice is not None]


class Orders:
    """Two orders of one customer: `good`, and `bad` whose version 2 is poison, with version 3 behind it."""

    def __init__(self) -> None:
        self.customer = new_id("cust")
        self.good = new_id("order")
        self.bad = new_id("order")
        self.poison_position = 0

    async def write(self, database: Database, commands: CommandBus, store: SqlEventStore) -> None:
        await commands.dispatch(create_order(self.good, self.customer, item("a", 1, "1.00")))
        await commands.dispatch(create_order(self.bad, self.customer, item("b", 1, "2.00")))
        self.poison_position = await insert_poison(database, self.bad, 2)
        await append(store, self.bad, 2, OrderShipped(order_id=self.bad, occurred_at=T0 + timedelta(days=1)))
        await commands.dispatch(add_item(self.good, item("c", 2, "0.50")))
        await visible(store)


async def park(runner: ProjectionRunner, failures: int) -> None:
    """catch_up() fails `failures` times (the retries), then parks and goes on."""
    for _ in range(failures):
        with pytest.raises(AttributeError):
            await runner.catch_up()
    await runner.catch_up()


@pytest.fixture
async def orders(database: Database, commands: CommandBus, store: SqlEventStore) -> Orders:
    written = Orders()
    await written.write(database, commands, store)
    return written


async def test_a_poison_event_parks_its_stream_after_the_retries_and_the_rest_of_the_batch_applies(
    database: Database,
    read_models: ReadModelStore,
    store: SqlEventStore,
    bus: InProcessBus,
    orders: Orders,
    make_runner: RunnerFactory,
) -> None:
    runner = make_runner("order_views", park_after=2)
    async with bus.subscribe(projection_channel("order_views")) as inbox:
        for _ in range(2):
            with pytest.raises(AttributeError):
                await runner.catch_up()
            async with database.engine.connect() as conn:
                failing = await read_checkpoint(conn, "order_views")
            assert failing is not None and failing.position == 0
            assert await parked(read_models) == []
        await runner.catch_up()
        notices = drain([await inbox.get(timeout=0) for _ in range(5)])

    assert StreamParked(
        name="order_views", stream_id=orders.bad, version=2, position=orders.poison_position
    ) in notices
    good, bad = await view(read_models, orders.good), await view(read_models, orders.bad)
    assert (good.version, good.total_amount, good.item_count) == (2, Decimal("2.00"), 3)
    assert (bad.version, bad.status, bad.total_amount) == (1, "CREATED", Decimal("2.00"))
    async with database.engine.connect() as conn:
        saved = await read_checkpoint(conn, "order_views")
    assert saved is not None
    assert (saved.position, saved.state, saved.last_error) == (
        await store.head_position(), ProjectionState.RUNNING, None,
    )
    (row,) = await parked(read_models)
    assert (row.projection, row.stream_id, row.version, row.position, row.event_type, row.attempts, row.request) == (
        "order_views", orders.bad, 2, orders.poison_position, POISON_TYPE, 3, None,
    )
    assert row.error.startswith("AttributeError")
    assert runner.parked == {orders.bad: 2} and runner.state is ProjectionState.RUNNING
    (status,) = await projection_statuses(read_models, store, ["order_views"])
    assert (status.state, status.parked_streams, status.lag) == (ProjectionState.RUNNING, 1, 0)


async def test_later_events_of_a_parked_stream_wait_behind_it_across_a_restart(
    database: Database,
    read_models: ReadModelStore,
    commands: CommandBus,
    store: SqlEventStore,
    orders: Orders,
    make_runner: RunnerFactory,
) -> None:
    await park(make_runner("order_views", park_after=0), failures=0)
    (before,) = await parked(read_models)

    # A new runner (a restart, or a kill -9 between batches) reads the parked streams back.
    restarted = make_runner("order_views", park_after=0)
    await append(store, orders.bad, 3, OrderCancelled(order_id=orders.bad, reason="late", occurred_at=T0))
    await commands.dispatch(ship_order(orders.good))
    await visible(store)
    await restarted.catch_up()

    assert restarted.parked == {orders.bad: 2}
    assert (await view(read_models, orders.good)).status == "SHIPPED"
    bad = await view(read_models, orders.bad)
    assert (bad.version, bad.status) == (1, "CREATED")
    assert await parked(read_models) == [before]
    assert restarted.position == await store.head_position()


async def test_a_retry_after_the_fix_replays_the_stream_in_order_and_equals_a_fold_from_scratch(
    database: Database,
    read_models: ReadModelStore,
    store: SqlEventStore,
    bus: InProcessBus,
    orders: Orders,
    make_runner: RunnerFactory,
) -> None:
    views, summaries = make_runner("order_views", park_after=0), make_runner("customer_summaries", park_after=0)
    await park(views, failures=0)
    await park(summaries, failures=0)
    assert {row.projection for row in await parked(read_models)} == {"order_views", "customer_summaries"}

    await repair_poison(database, orders.bad, 2)
    desk = ParkingDesk(read_models, bus)
    requested = await desk.request(orders.bad, ParkingRequest.RETRY)
    assert [(row.projection, row.request) for row in requested] == [
        ("customer_summaries", ParkingRequest.RETRY), ("order_views", ParkingRequest.RETRY),
    ]
    await views.catch_up()
    await summaries.catch_up()

    assert await parked(read_models) == [] and views.parked == {} and summaries.parked == {}
    bad = await view(read_models, orders.bad)
    assert (bad.version, bad.status, bad.total_amount, [line.product_id for line in bad.items]) == (
        3, "SHIPPED", Decimal("5.00"), ["b", "fixed"],
    )
    retried_views = {order: await view(read_models, order) for order in (orders.good, orders.bad)}
    retried_summary = await CustomerSummaryQueries(read_models).get(orders.customer)

    for name, runner in (("order_views", views), ("customer_summaries", summaries)):
        await rebuild(read_models, name)
        await runner.catch_up()
    assert {order: await view(read_models, order) for order in retried_views} == retried_views
    assert await CustomerSummaryQueries(read_models).get(orders.customer) == retried_summary


async def test_a_retry_that_fails_again_stays_parked_with_the_new_attempt(
    read_models: ReadModelStore, bus: InProcessBus, orders: Orders, make_runner: RunnerFactory
) -> None:
    runner = make_runner("order_views", park_after=1)
    await park(runner, failures=1)
    await ParkingDesk(read_models, bus).request(orders.bad, ParkingRequest.RETRY, "order_views")

    async with bus.subscribe(projection_channel("order_views")) as inbox:
        await runner.catch_up()
        notice = await inbox.get(timeout=0)

    (row,) = await parked(read_models)
    assert (row.version, row.attempts, row.request) == (2, 3, None)
    assert notice == StreamParked(name="order_views", stream_id=orders.bad, version=2, position=orders.poison_position)
    assert (await view(read_models, orders.bad)).version == 1


async def test_a_skip_passes_the_poison_event_and_replays_the_rest(
    read_models: ReadModelStore, bus: InProcessBus, orders: Orders, make_runner: RunnerFactory
) -> None:
    views, summaries = make_runner("order_views", park_after=0), make_runner("customer_summaries", park_after=0)
    await park(views, failures=0)
    await park(summaries, failures=0)
    desk = ParkingDesk(read_models, bus)
    assert await desk.request(new_id("order"), ParkingRequest.SKIP) == []

    await desk.request(orders.bad, ParkingRequest.SKIP)
    await views.catch_up()
    await summaries.catch_up()

    assert await parked(read_models) == []
    bad = await view(read_models, orders.bad)
    assert (bad.version, bad.status, bad.total_amount, bad.item_count) == (3, "SHIPPED", Decimal("2.00"), 1)
    summary = await CustomerSummaryQueries(read_models).get(orders.customer)
    assert summary is not None
    assert (summary.order_count, summary.open_order_count, summary.shipped_order_count) == (2, 1, 1)
    assert summary.lifetime_value == Decimal("4.00")


async def test_a_database_error_parks_nothing(read_models: ReadModelStore, orders: Orders, make_runner: RunnerFactory) -> None:
    async def unreachable(reader: KeyedRows, batch: Sequence[RecordedEvent]) -> BatchChanges:
        raise ServiceUnavailableError("the database cannot be reached")

    runner = make_runner("order_views", projector=Projector(plan=unreachable, tables=()), park_after=0)
    for _ in range(2):
        with pytest.raises(ServiceUnavailableError):
            await runner.catch_up()
    assert await parked(read_models) == [] and runner.parked == {}


@pytest.fixture
async def tracker(bus: InProcessBus, database: Database) -> AsyncIterator[ProjectionTracker]:
    """A started tracker that polls rarely: the notices and the table must do the work."""
    tracker = ProjectionTracker(bus, open_read_models(database), ("order_views",), poll_interval=30.0)
    await tracker.start()
    await eventually(lambda: _known(tracker))
    try:
        yield tracker
    finally:
        await tracker.stop()


async def _known(tracker: ProjectionTracker) -> bool:
    return tracker.position("order_views") is not None


async def test_a_wait_on_a_parked_order_fails_at_once_whether_parked_before_or_during_it(
    read_models: ReadModelStore, tracker: ProjectionTracker, orders: Orders, make_runner: RunnerFactory
) -> None:
    reader = OrderViewQueries(read_models)
    runner = make_runner("order_views", park_after=3)  # the running loop: three retries with backoff, then parks
    waiter = asyncio.create_task(wait_for_order_version(tracker, reader, orders.bad, 3, timeout=None))
    await eventually(lambda: _listening(tracker))

    await runner.start()  # parks `bad` while the wait is on
    async with asyncio.timeout(10):  # a guard: the wait itself has no timeout
        with pytest.raises(StreamParkedError) as during:
            await waiter
        with pytest.raises(StreamParkedError) as before:
            await wait_for_order_version(tracker, reader, orders.bad, 2, timeout=None)

    assert (during.value.order_id, during.value.parked_at) == (orders.bad, 2)
    assert before.value.parked_at == 2
    reached = await wait_for_order_version(tracker, reader, orders.bad, 1, timeout=None)
    assert reached is not None and reached.version == 1  # the last good view answers what it can
    good = await wait_for_order_version(tracker, reader, orders.good, 2, timeout=None)
    assert good is not None and good.version == 2
    assert tracker.listener_count() == 0


class DeafBus(InProcessBus):
    """Loses every projection notice (as Redis pub/sub may): batches and parkings alike."""

    async def publish(self, channel: str, notice: Notice) -> None:
        if not channel.startswith(projection_channel("")):
            await super().publish(channel, notice)


async def test_a_parking_whose_notice_is_lost_still_fails_the_wait_at_the_next_poll(
    database: Database, read_models: ReadModelStore, orders: Orders, make_runner: RunnerFactory
) -> None:
    deaf = DeafBus()
    tracker = ProjectionTracker(deaf, read_models, ("order_views",), poll_interval=0.05)
    await tracker.start()
    try:
        reader = OrderViewQueries(read_models)
        waiter = asyncio.create_task(wait_for_order_version(tracker, reader, orders.bad, 3, timeout=None))
        await eventually(lambda: _listening(tracker))
        await make_runner("order_views", park_after=0, bus=deaf).catch_up()
        async with asyncio.timeout(10):  # a guard: the wait itself has no timeout
            with pytest.raises(StreamParkedError):
                await waiter
    finally:
        await tracker.stop()


async def _listening(tracker: ProjectionTracker) -> bool:
    return tracker.listener_count() == 1


def test_a_stream_parked_notice_travels_the_wire() -> None:
    notice = StreamParked(name="order_views", stream_id="order-1", version=2, position=17)
    assert decode(encode(notice)) == notice

