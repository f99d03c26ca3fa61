"""The event store contract, run against the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert

from domain.errors import ConcurrencyConflictError, DuplicateCommandError
from domain.events import OrderCancelled, OrderCreated, OrderItemAdded, OrderShipped
from domain.ports import CommandStamp, RecordedEvent, UnreadableEvent, UnreadableEventError
from domain.values import Address, LineItem
from eventstore.bus import EVENTS_CHANNEL
from eventstore.codec import UnknownEventTypeError
from eventstore.local_bus import InProcessBus
from eventstore.memory_store import InMemoryEventStore
from eventstore.messages import EventsAppended
from eventstore.tables import events as events_table
from tests.eventstore.conftest import StoreUnderTest

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
ADDRESS = Address(line1="1 Main St", line2=None, city="Springfield", postal_code="12345", country="US")


def new_id(prefix: str) -> str:
    """A random id, so tests never depend on each other's data."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def stamp(command_id: str | None = None) -> CommandStamp:
    """A command stamp with a fresh id unless one is given."""
    return CommandStamp(command_id=command_id or new_id("cmd"), command_type="Test", fingerprint="f" * 64)


def created(order_id: str, *prices: str) -> OrderCreated:
    """An OrderCreated with one item per price."""
    items = tuple(
        LineItem(product_id=f"p{index}", quantity=index + 1, price=Decimal(price)) for index, price in enumerate(prices)
    )
    return OrderCreated(order_id=order_id, customer_id="c1", items=items, shipping_address=ADDRESS, occurred_at=WHEN)


def shipped(order_id: str) -> OrderShipped:
    """An OrderShipped at WHEN."""
    return OrderShipped(order_id=order_id, occurred_at=WHEN)


async def read_log_until(store: StoreUnderTest, after: int, count: int, batch: int = 1000) -> list[RecordedEvent]:
    """read_log from `after` until `count` events arrived (on PostgreSQL any transaction
    open elsewhere on the server may hold them back for a moment)."""
    seen: list[RecordedEvent] = []
    deadline = asyncio.get_running_loop().time() + 10
    while len(seen) < count:
        page = await store.read_log(after=seen[-1].position if seen else after, limit=batch)
        seen.extend(page)
        if not page:
            assert asyncio.get_running_loop().time() < deadline, f"read_log gave {len(seen)} of {count}"
            await asyncio.sleep(0.02)
    return seen


async def test_round_trip_keeps_decimals_and_datetimes_exact(store: StoreUnderTest) -> None:
    order_id = new_id("order")
    item = LineItem(product_id="p9", quantity=3, price=Decimal("0.0001"))
    written = [
        created(order_id, "19.9900", "1000000000"),
        OrderItemAdded(order_id=order_id, item=item, occurred_at=WHEN),
    ]
    command = stamp()

    result = await store.append(order_id, "order", written, expected_version=0, command=command)

    assert (result.stream_id, result.version) == (order_id, 2)
    assert result.position == await store.head_position()
    recorded = await store.read_stream(order_id)
    assert [event.event for event in recorded] == written
    assert [event.version for event in recorded] == [1, 2]
    assert recorded[1].position == result.position == recorded[0].position + 1
    first = recorded[0].event
    assert isinstance(first, OrderCreated)
    assert [str(line.price) for line in first.items] == ["19.9900", "1000000000"]
    assert first.occurred_at == WHEN and first.occurred_at.utcoffset() == timedelta(hours=2)
    for event in recorded:
        assert event.stream_type == "order"
        assert event.command_id == command.command_id
        assert event.occurred_at == WHEN and event.occurred_at.tzinfo is not None
        assert event.recorded_at.tzinfo is not None
        assert abs(event.recorded_at - datetime.now(UTC)) < timedelta(minutes=5)
        assert uuid.UUID(event.event_id).version == 4
    assert recorded[1].data["item"]["price"] == "0.0001"
    assert recorded[0].type_name == "order.created" and recorded[0].schema_version == 1


async def test_unknown_stream_reads_empty(store: StoreUnderTest) -> None:
    assert await store.read_stream(new_id("nothing")) == []
    assert await store.find_command(new_id("cmd")) is None
    assert await store.head_position() == 0
    assert await store.read_log(after=0, limit=10) == []


async def test_expected_version_conflict_reports_both_versions(store: StoreUnderTest) -> None:
    order_id = new_id("order")
    await store.append(order_id, "order", [created(order_id, "5")], expected_version=0, command=stamp())

    for expected in (0, 2):
        with pytest.raises(ConcurrencyConflictError) as caught:
            await store.append(order_id, "order", [shipped(order_id)], expected_version=expected, command=stamp())
        assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == (order_id, expected, 1)


async def test_rejected_append_writes_nothing(store: StoreUnderTest) -> None:
    order_id = new_id("order")
    first = await store.append(order_id, "order", [created(order_id, "5")], expected_version=0, command=stamp())
    rejected = stamp()

    with pytest.raises(ConcurrencyConflictError):
        await store.append(
            order_id, "order", [shipped(order_id), shipped(order_id)], expected_version=0, command=rejected
        )

    assert [event.version for event in await store.read_stream(order_id)] == [1]
    assert await store.find_command(rejected.command_id) is None
    assert await store.head_position() == first.position
    after = await store.append(order_id, "order", [shipped(order_id)], expected_version=1, command=stamp())
    assert after.version == 2


async def test_duplicate_command_id_is_refused_and_writes_nothing(store: StoreUnderTest) -> None:
    first_order, second_order = new_id("order"), new_id("order")
    command = stamp()
    result = await store.append(first_order, "order", [created(first_order, "5")], expected_version=0, command=command)

    with pytest.raises(DuplicateCommandError) as caught:
        await store.append(second_order, "order", [created(second_order, "5")], expected_version=0, command=command)

    assert caught.value.command_id == command.command_id
    assert await store.read_stream(second_order) == []
    assert await store.head_position() == result.position
    record = await store.find_command(command.command_id)
    assert record is not None
    assert (record.command_type, record.fingerprint) == (command.command_type, command.fingerprint)
    assert record.result == result


async def test_racing_writers_of_one_stream_one_wins(store: StoreUnderTest) -> None:
    order_id = new_id("order")
    await store.append(order_id, "order", [created(order_id, "5")], expected_version=0, command=stamp())

    outcomes = await asyncio.gather(
        *(store.append(order_id, "order", [shipped(order_id)], expected_version=1, command=stamp()) for _ in range(6)),
        return_exceptions=True,
    )

    conflicts = [outcome for outcome in outcomes if isinstance(outcome, ConcurrencyConflictError)]
    assert len(conflicts) == 5, outcomes
    assert all(conflict.actual in (2, None) for conflict in conflicts)
    assert [event.version for event in await store.read_stream(order_id)] == [1, 2]


async def test_racing_twins_of_one_command_one_wins(store: StoreUnderTest) -> None:
    command = stamp()
    orders = [new_id("order") for _ in range(4)]

    outcomes = await asyncio.gather(
        *(store.append(order, "order", [created(order, "5")], expected_version=0, command=command) for order in orders),
        return_exceptions=True,
    )

    assert sum(isinstance(outcome, DuplicateCommandError) for outcome in outcomes) == 3, outcomes
    written = [order for order in orders if await store.read_stream(order)]
    assert len(written) == 1


async def test_read_log_returns_batches_in_position_order(store: StoreUnderTest) -> None:
    appended = []
    for index in range(5):
        order_id = new_id("order")
        events = [created(order_id, "5")] + [shipped(order_id)] * (index % 2)
        appended.append(await store.append(order_id, "order", events, expected_version=0, command=stamp()))

    everything = await read_log_until(store, after=0, count=7)
    batched: list[RecordedEvent] = []
    while len(batched) < 7:
        batched.extend(await store.read_log(after=batched[-1].position if batched else 0, limit=2))

    assert [event.position for event in batched] == [event.position for event in everything]
    positions = [event.position for event in everything]
    assert positions == sorted(set(positions))
    assert positions[-1] == appended[-1].position == await store.head_position()
    assert {result.position for result in appended} <= set(positions)
    assert await store.read_log(after=positions[-1], limit=10) == []
    assert [event.position for event in await store.read_log(after=positions[2], limit=3)] == positions[3:6]


async def test_notice_is_published_after_commit(store: StoreUnderTest, bus: InProcessBus) -> None:
    order_id = new_id("order")
    async with bus.subscribe(EVENTS_CHANNEL) as inbox:
        result = await store.append(
            order_id, "order", [created(order_id, "5"), shipped(order_id)], expected_version=0, command=stamp()
        )
        notice = await inbox.get(timeout=1)

    assert notice == EventsAppended(
        stream_id=order_id, version=2, first_position=result.position - 1, position=result.position
    )
    # Announced after commit: whoever hears it can read what it announces.
    assert [event.version for event in await store.read_stream(order_id)] == [1, 2]


async def test_rejected_append_publishes_nothing(store: StoreUnderTest, bus: InProcessBus) -> None:
    order_id = new_id("order")
    await store.append(order_id, "order", [created(order_id, "5")], expected_version=0, command=stamp())
    async with bus.subscribe(EVENTS_CHANNEL) as inbox:
        with pytest.raises(ConcurrencyConflictError):
            await store.append(order_id, "order", [shipped(order_id)], expected_version=0, command=stamp())
        assert await inbox.get(timeout=0.05) is None


async def test_stored_v1_cancellation_is_upcast(store: StoreUnderTest) -> None:
    order_id = new_id("order")
    await store.append(order_id, "order", [created(order_id, "5")], expected_version=0, command=stamp())
    v1 = {"order_id": order_id, "occurred_at": WHEN.isoformat()}
    await store_raw(store, order_id, "order.cancelled", 1, v1)

    recorded = await store.read_stream(order_id)

    assert recorded[1].schema_version == 1 and dict(recorded[1].data) == v1
    upcast = OrderCancelled(order_id=order_id, reason="cancelled (no reason recorded)", occurred_at=WHEN)
    assert recorded[1].event == upcast
    from_log = await read_log_until(store, after=recorded[0].position, count=1)
    assert from_log[0].event == recorded[1].event


UNREADABLE = [
    # (type, schema version, data, the reason read_log gives, the error read_stream raises)
    ("order.gift_wrapped", 1, {"paper": "red"},
     "UnknownEventTypeError: unknown event type 'order.gift_wrapped'", UnknownEventTypeError),
    ("order.shipped", 1, {"order_id": "o"}, "ValueError: OrderShipped data lacks occurred_at", ValueError),
    ("order.shipped", 1, {"order_id": "o", "occurred_at": "soon"}, "ValueError: Invalid isoformat string: 'soon'", ValueError),
    ("order.shipped", 7, {"order_id": "o", "occurred_at": "2024-01-01T00:00:00+00:00"},
     "UnknownEventTypeError: event type 'order.shipped' has no schema version 7 here", UnknownEventTypeError),
]


@pytest.mark.parametrize(("type_name", "schema_version", "data", "reason", "error"), UNREADABLE)
async def test_an_event_this_code_cannot_decode_reads_unreadable_from_the_log_and_fails_the_stream_read(
    store: StoreUnderTest,
    type_name: str,
    schema_version: int,
    data: dict[str, object],
    reason: str,
    error: type[Exception],
) -> None:
    order_id, behind = new_id("order"), new_id("order")
    first = await store.append(order_id, "order", [created(order_id, "5")], expected_version=0, command=stamp())
    await store_raw(store, order_id, type_name, schema_version, data)
    await store.append(behind, "order", [created(behind, "1")], expected_version=0, command=stamp())

    logged = await read_log_until(store, after=first.position - 1, count=3)

    assert [(event.stream_id, event.version) for event in logged] == [(order_id, 1), (order_id, 2), (behind, 1)]
    assert logged[1].event == UnreadableEvent(type_name=type_name, schema_version=schema_version, reason=reason)
    assert dict(logged[1].data) == data
    assert isinstance(logged[2].event, OrderCreated)
    with pytest.raises(UnreadableEventError, match=re.escape(reason)):
        logged[1].decoded()
    with pytest.raises(error):
        await store.read_stream(order_id)
    replayed = await store.replay_stream(order_id)
    assert [event.event for event in replayed] == [logged[0].event, logged[1].event]


async def test_append_refuses_empty_and_naive_events(store: StoreUnderTest) -> None:
    order_id = new_id("order")
    with pytest.raises(ValueError):
        await store.append(order_id, "order", [], expected_version=0, command=stamp())
    naive = OrderShipped(order_id=order_id, occurred_at=datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        await store.append(order_id, "order", [naive], expected_version=0, command=stamp())
    assert await store.read_stream(order_id) == []


async def store_raw(
    store: StoreUnderTest, stream_id: str, type_name: str, schema_version: int, data: dict[str, object]
) -> None:
    """Write an already-encoded event the way an older release stored it."""
    version = len(await store.read_stream(stream_id)) + 1
    if isinstance(store, InMemoryEventStore):
        store.insert_stored(
            stream_id=stream_id,
            stream_type="order",
            type_name=type_name,
            schema_version=schema_version,
            data=data,
            occurred_at=WHEN,
        )
        return
    async with store.database.write_engine.begin() as connection:
        await connection.execute(
            insert(events_table).values(
                event_id=str(uuid.uuid4()),
                stream_id=stream_id,
                stream_type="order",
                version=version,
                type_name=type_name,
                schema_version=schema_version,
                data=data,
                occurred_at=WHEN,
            )
        )
