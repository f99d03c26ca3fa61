"""The runner on SQLite and PostgreSQL: catch-up, resume, crashes, failures, races, rebuilds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from decimal import Decimal
from unittest.mock import ANY

import pytest
from sqlalchemy import update

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.bus import projection_channel
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from eventstore.messages import ProjectionAdvanced
from eventstore.sql_store import SqlEventStore
from orderly.bootstrap import open_read_models
from projections.changes import BatchChanges
from projections.checkpoints import Checkpoint, ProjectionState, projection_checkpoints, read_checkpoint
from projections.customer_summaries.queries import CustomerSummaryQueries
from projections.order_views.queries import OrderViewQueries
from projections.projector import Projector
from projections.read_models import KeyedRows, ReadModelStore
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner
from tests.projections.builders import add_item, cancel_order, create_order, item, new_id, ship_order
from tests.projections.conftest import RunnerFactory, eventually


async def checkpoint(database: Database, name: str) -> Checkpoint:
    async with database.engine.connect() as conn:
        found = await read_checkpoint(conn, name)
    assert found is not None
    return found


async def place_orders(commands: CommandBus, customer_id: str, count: int, price: str = "1.25") -> list[str]:
    order_ids = [new_id("order") for _ in range(count)]
    for order_id in order_ids:
        await commands.dispatch(create_order(order_id, customer_id, item("sku", 1, price)))
    return order_ids


async def caught_up(runner: ProjectionRunner, store: SqlEventStore) -> int:
    """catch_up() until the runner reaches the head; how many events it applied.

    On PostgreSQL read_log shows only events older than every running transaction on the
    server, so another client's open transaction can hide fresh events for a moment.
    """
    head, applied = await store.head_position(), 0

    async def reached() -> bool:
        nonlocal applied
        applied += await runner.catch_up()
        return runner.position >= head

    await eventually(reached)
    return applied


async def visible(store: SqlEventStore) -> None:
    """Wait until read_log shows every committed event (see caught_up)."""
    head = await store.head_position()

    async def shown() -> bool:
        return len(await store.read_log(after=head - 1, limit=1)) == 1 or head == 0

    await eventually(shown)


class FlakyProjector:
    """Raises when a batch reaches `position`, `failures` times; then applies normally."""

    def __init__(self, name: str, position: int, failures: int) -> None:
        self.inner = PROJECTIONS[name]
        self.position = position
        self.failures = failures
        self.projector = Projector(plan=self.plan, tables=self.inner.tables)

    async def plan(self, reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
        # Plan first, then fail: nothing of the batch may be written, checkpoint included.
        changes = await self.inner.plan(reader, events)
        if self.failures > 0 and any(event.position == self.position for event in events):
            self.failures -= 1
            raise RuntimeError(f"projector broke on position {self.position}")
        return changes


class BlockingProjector:
    """Plans the batch, then blocks before the commit until the runner is stopped."""

    def __init__(self, name: str) -> None:
        self.inner = PROJECTIONS[name]
        self.inside = asyncio.Event()
        self.projector = Projector(plan=self.plan, tables=self.inner.tables)

    async def plan(self, reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
        changes = await self.inner.plan(reader, events)
        self.inside.set()
        await asyncio.Event().wait()
        return changes


async def test_catches_up_from_zero_in_batches_and_announces_each_commit(
    database: Database, commands: CommandBus, store: SqlEventStore, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    customer = new_id("cust")
    first, second, third = await place_orders(commands, customer, 3, price="2.50")
    await commands.dispatch(add_item(first, item("extra", 2, "0.25")))
    await commands.dispatch(ship_order(second))
    await commands.dispatch(cancel_order(third, "no longer needed"))
    head = await store.head_position()
    await visible(store)
    runner = make_runner("order_views", batch_size=2)

    async with bus.subscribe(projection_channel("order_views")) as inbox:
        assert await runner.catch_up() == 6
        notices = [await inbox.get(timeout=0) for _ in range(3)]
        assert await inbox.get(timeout=0) is None

    assert notices == [
        ProjectionAdvanced(name="order_views", from_position=0, position=2, streams={first: 1, second: 1}),
        ProjectionAdvanced(name="order_views", from_position=2, position=4, streams={third: 1, first: 2}),
        ProjectionAdvanced(name="order_views", from_position=4, position=6, streams=ANY),
    ]
    views = await OrderViewQueries(open_read_models(database)).get_many([first, second, third])
    assert (views[first].total_amount, views[first].version) == (Decimal("3.00"), 2)
    assert views[second].status == "SHIPPED" and views[third].status == "CANCELLED"
    assert runner.state is ProjectionState.RUNNING and runner.position == head
    saved = await checkpoint(database, "order_views")
    assert (saved.position, saved.state, saved.last_error) == (head, ProjectionState.RUNNING, None)


async def test_a_started_runner_is_woken_by_appends(
    database: Database, commands: CommandBus, make_runner: RunnerFactory
) -> None:
    runner = make_runner("order_views", poll_interval=30.0)  # only the doorbell can wake it in time
    await runner.start()
    await eventually(lambda: _state_is(runner, ProjectionState.RUNNING))

    (order_id,) = await place_orders(commands, new_id("cust"), 1)

    queries = OrderViewQueries(open_read_models(database))
    await eventually(lambda: _exists(queries, order_id), timeout=2.0)


async def test_a_slow_live_batch_is_logged_with_what_it_held(
    database: Database, commands: CommandBus, make_runner: RunnerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    runner = make_runner("order_views", poll_interval=30.0, slow_batch=0.0)  # every live batch counts as slow
    with caplog.at_level(logging.WARNING, logger="projections.slow_batch"):
        await runner.start()
        await eventually(lambda: _state_is(runner, ProjectionState.RUNNING))
        (order_id,) = await place_orders(commands, new_id("cust"), 1)
        await eventually(lambda: _exists(OrderViewQueries(open_read_models(database)), order_id), timeout=2.0)
        await eventually(lambda: _logged(caplog, "slow batch"), timeout=2.0)

    (record,) = [r for r in caplog.records if "slow batch" in r.getMessage()][:1]
    message = record.getMessage()
    assert "projection order_views" in message and "1 events, 1 streams, rows order_views 1" in message
    assert "oldest event appended" in message and "commit" in message
    assert record.projection == "order_views" and record.waited_ms >= 0  # type: ignore[attr-defined]


async def test_catch_up_batches_are_not_reported_as_slow(
    database: Database, commands: CommandBus, make_runner: RunnerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    await place_orders(commands, new_id("cust"), 3)
    runner = make_runner("order_views", poll_interval=30.0, slow_batch=0.0)
    with caplog.at_level(logging.WARNING, logger="projections.slow_batch"):
        await runner.start()
        await eventually(lambda: _state_is(runner, ProjectionState.RUNNING))
    assert not [r for r in caplog.records if "slow batch" in r.getMessage()]


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


async def test_resumes_from_its_checkpoint_after_stop_without_double_counting(
    database: Database, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    customer = new_id("cust")
    await place_orders(commands, customer, 5)
    runner = make_runner("customer_summaries", batch_size=2)
    await runner.start()
    head = await store.head_position()
    await eventually(lambda: _at(database, "customer_summaries", head))
    await runner.stop()
    assert (await checkpoint(database, "customer_summaries")).state is ProjectionState.STOPPED
    assert not runner.running

    await place_orders(commands, customer, 3)
    resumed = make_runner("customer_summaries", batch_size=2)
    await resumed.start()
    head = await store.head_position()
    await eventually(lambda: _at(database, "customer_summaries", head))

    summary = await CustomerSummaryQueries(open_read_models(database)).get(customer)
    assert summary is not None
    assert (summary.order_count, summary.open_order_count, summary.lifetime_value) == (8, 8, Decimal("10.00"))


async def test_a_failing_batch_marks_failed_keeps_its_place_and_recovers_exactly_once(
    database: Database, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    customer = new_id("cust")
    await place_orders(commands, customer, 7)
    await visible(store)
    flaky = FlakyProjector("customer_summaries", position=5, failures=1_000_000)
    # Parking (tests/projections/test_parking.py) would park the stream after its retries: here
    # the failure lasts until it is fixed, as one that is not the event's fault (a bad deploy).
    runner = make_runner("customer_summaries", flaky.projector, batch_size=3, park_after=1_000_000)
    await runner.start()

    await eventually(lambda: _state_is(runner, ProjectionState.FAILED))
    await asyncio.sleep(0.1)  # several retries, none may skip the event or commit half a batch
    saved = await checkpoint(database, "customer_summaries")
    assert (saved.position, saved.state) == (3, ProjectionState.FAILED)  # batches: 1-3 ok, 4-6 fails
    assert saved.last_error == "RuntimeError: projector broke on position 5"
    assert runner.last_error == saved.last_error
    summary = await CustomerSummaryQueries(open_read_models(database)).get(customer)
    assert summary is not None and summary.order_count == 3  # one order per event: rows match the checkpoint

    flaky.failures = 0
    head = await store.head_position()
    await eventually(lambda: _at(database, "customer_summaries", head))
    await eventually(lambda: _state_is(runner, ProjectionState.RUNNING))
    saved = await checkpoint(database, "customer_summaries")
    assert (saved.state, saved.last_error) == (ProjectionState.RUNNING, None)
    assert runner.last_error is None
    summary = await CustomerSummaryQueries(open_read_models(database)).get(customer)
    assert summary is not None
    assert (summary.order_count, summary.lifetime_value) == (7, Decimal("8.75"))


async def test_killed_mid_batch_leaves_rows_and_checkpoint_consistent(
    database: Database, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    customer = new_id("cust")
    await place_orders(commands, customer, 4)
    blocking = BlockingProjector("customer_summaries")
    runner = make_runner("customer_summaries", blocking.projector, batch_size=2)
    await runner.start()
    await asyncio.wait_for(blocking.inside.wait(), 5)

    await runner.stop()  # cancelled inside the batch transaction, after the rows were written

    assert (await checkpoint(database, "customer_summaries")).position == 0
    assert await CustomerSummaryQueries(open_read_models(database)).get(customer) is None
    retry = make_runner("customer_summaries", batch_size=2)
    assert await caught_up(retry, store) == 4
    summary = await CustomerSummaryQueries(open_read_models(database)).get(customer)
    assert summary is not None and (summary.order_count, summary.lifetime_value) == (4, Decimal("5.00"))


async def test_replaying_applied_batches_changes_nothing(
    database: Database, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    customer = new_id("cust")
    order_ids = await place_orders(commands, customer, 3)
    await commands.dispatch(ship_order(order_ids[0]))
    runner = make_runner("customer_summaries", batch_size=2)
    await caught_up(runner, store)
    async with database.write_engine.begin() as conn:  # as if the checkpoint write had been lost
        await conn.execute(update(projection_checkpoints).values(position=0))

    assert await caught_up(runner, store) == 4

    summary = await CustomerSummaryQueries(open_read_models(database)).get(customer)
    assert summary is not None
    assert (summary.order_count, summary.open_order_count, summary.shipped_order_count) == (3, 2, 1)


async def test_two_runners_on_one_projection_never_double_count(
    database: Database, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    customer = new_id("cust")
    first = make_runner("customer_summaries", batch_size=3)
    second = make_runner("customer_summaries", batch_size=3)
    await first.start()
    await second.start()

    writers = [place_orders(commands, customer, 10) for _ in range(4)]
    await asyncio.gather(*writers)
    for _ in range(3):  # and head-on races of whole catch-ups
        await asyncio.gather(first.catch_up(), second.catch_up())

    head = await store.head_position()
    await eventually(lambda: _at(database, "customer_summaries", head))
    summary = await CustomerSummaryQueries(open_read_models(database)).get(customer)
    assert summary is not None
    assert (summary.order_count, summary.open_order_count, summary.lifetime_value) == (40, 40, Decimal("50.00"))


class PausingLog:
    """The store's log, but the first read waits (holding its batch) until released."""

    def __init__(self, store: SqlEventStore) -> None:
        self.store = store
        self.read = asyncio.Event()
        self.release = asyncio.Event()

    async def read_log(self, after: int, limit: int) -> list[RecordedEvent]:
        events = await self.store.read_log(after, limit)
        if not self.read.is_set():
            self.read.set()
            await self.release.wait()
        return events

    async def head_position(self) -> int:
        return await self.store.head_position()


async def test_a_runner_whose_batch_was_applied_meanwhile_applies_nothing(
    database: Database, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    customer = new_id("cust")
    await place_orders(commands, customer, 4)
    await visible(store)
    paused = PausingLog(store)
    slow = make_runner("customer_summaries", store=paused)
    fast = make_runner("customer_summaries")

    slow_catch_up = asyncio.create_task(slow.catch_up())
    await paused.read.wait()  # slow holds the batch after position 0
    assert await fast.catch_up() == 4
    paused.release.set()

    assert await slow_catch_up == 0  # its compare-and-set found the checkpoint moved
    assert slow.position == fast.position == 4
    summary = await CustomerSummaryQueries(open_read_models(database)).get(customer)
    assert summary is not None and (summary.order_count, summary.lifetime_value) == (4, Decimal("5.00"))


async def test_rebuild_clears_the_tables_and_replays_the_log(
    database: Database,
    read_models: ReadModelStore,
    commands: CommandBus,
    store: SqlEventStore,
    bus: InProcessBus,
    make_runner: RunnerFactory,
) -> None:
    customer = new_id("cust")
    await place_orders(commands, customer, 3)
    runner = make_runner("customer_summaries", poll_interval=30.0)
    await runner.start()
    head = await store.head_position()
    await eventually(lambda: _at(database, "customer_summaries", head))

    await rebuild(read_models, "customer_summaries", bus=bus)  # also rings the runner's doorbell

    await eventually(lambda: _at(database, "customer_summaries", head), timeout=2.0)
    await eventually(lambda: _state_is(runner, ProjectionState.RUNNING))
    summary = await CustomerSummaryQueries(open_read_models(database)).get(customer)
    assert summary is not None and summary.order_count == 3


async def test_a_reset_nobody_announced_is_replayed_after_a_quiet_poll(
    database: Database, read_models: ReadModelStore, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    """The runner keeps its checkpoint in memory while it leads; a reset made elsewhere whose
    RESYNC was lost must still be found (at the next poll), not only after the next append."""
    customer = new_id("cust")
    await place_orders(commands, customer, 3)
    runner = make_runner("customer_summaries")  # polls every 50 ms
    await runner.start()
    head = await store.head_position()
    await eventually(lambda: _at(database, "customer_summaries", head))

    await rebuild(read_models, "customer_summaries")  # no bus: nobody hears of it

    await eventually(lambda: _at(database, "customer_summaries", head), timeout=2.0)
    summary = await CustomerSummaryQueries(open_read_models(database)).get(customer)
    assert summary is not None and summary.order_count == 3


async def test_rebuild_marks_the_checkpoint_rebuilding(
    database: Database, read_models: ReadModelStore, commands: CommandBus
) -> None:
    await place_orders(commands, new_id("cust"), 1)
    await rebuild(read_models, "order_views")

    saved = await checkpoint(database, "order_views")
    assert (saved.position, saved.state) == (0, ProjectionState.REBUILDING)


async def _state_is(runner: ProjectionRunner, state: ProjectionState) -> bool:
    return runner.state is state


async def _exists(queries: OrderViewQueries, order_id: str) -> bool:
    return await queries.get(order_id) is not None


async def _at(database: Database, name: str, position: int) -> bool:
    async with database.engine.connect() as conn:
        found = await read_checkpoint(conn, name)
    return found is not None and found.position >= position
