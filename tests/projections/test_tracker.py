"""The tracker: waits that neither race nor hang, RESYNC on gaps, one poll for everyone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from domain.command_bus import CommandBus
from eventstore.bus import EVENTS_CHANNEL, projection_channel
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from eventstore.messages import RESYNC, Notice, ProjectionAdvanced
from eventstore.sql_store import SqlEventStore
from orderly.bootstrap import open_event_store, open_read_models
from projections.consistency import order_updates, wait_for_order_version
from projections.order_views.queries import OrderViewQueries
from projections.runner import ProjectionRunner
from projections.tracker import ProjectionTracker
from tests.projections.builders import add_item, create_order, item, new_id, ship_order
from tests.projections.conftest import RunnerFactory, eventually

NAMES = ("order_views", "customer_summaries")


class DeafBus(InProcessBus):
    """Loses every projection notice (as Redis pub/sub may); append notices still arrive."""

    async def publish(self, channel: str, notice: Notice) -> None:
        if channel == EVENTS_CHANNEL:
            await super().publish(channel, notice)


@pytest.fixture
async def tracker(bus: InProcessBus, database: Database) -> AsyncIterator[ProjectionTracker]:
    """A started tracker that polls rarely: notices must do the work unless a test says so."""
    tracker = ProjectionTracker(bus, open_read_models(database), NAMES, poll_interval=30.0)
    await tracker.start()
    await eventually(lambda: _known(tracker))
    try:
        yield tracker
    finally:
        await tracker.stop()


async def _known(tracker: ProjectionTracker) -> bool:
    return all(tracker.position(name) is not None for name in NAMES)


async def test_returns_at_once_when_the_position_is_already_reached(
    tracker: ProjectionTracker, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    assert await tracker.wait_for_position("order_views", 0, timeout=0) is True
    await commands.dispatch(create_order(new_id("order"), new_id("cust")))
    runner = make_runner("order_views", bus=DeafBus())
    await eventually(lambda: _caught_up(runner, store))
    head = await store.head_position()
    assert tracker.position("order_views") == 0  # the notice was lost and no poll ran yet

    # So it reads the checkpoint before it waits.
    assert await tracker.wait_for_position("order_views", head, timeout=0) is True


async def test_wakes_on_the_projections_notice(
    tracker: ProjectionTracker, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    runner = make_runner("order_views", poll_interval=30.0)
    await runner.start()
    waiter = asyncio.create_task(tracker.wait_for_position("order_views", 1, timeout=5.0))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    loop = asyncio.get_running_loop()
    started = loop.time()

    await commands.dispatch(create_order(new_id("order"), new_id("cust")))

    assert await waiter is True
    assert loop.time() - started < 2.0  # far below the 30 s polls: the notice woke it
    assert tracker.position("order_views") == 1


async def test_a_lost_notice_is_made_good_by_the_poll_and_listeners_resync(
    database: Database, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    deaf = DeafBus()
    tracker = ProjectionTracker(deaf, open_read_models(database), NAMES, poll_interval=0.05)
    await tracker.start()
    try:
        await eventually(lambda: _known(tracker))
        runner = make_runner("order_views", bus=deaf, store=open_event_store(database, deaf), poll_interval=0.05)
        await runner.start()
        async with tracker.listen("order_views") as inbox:
            waiter = asyncio.create_task(tracker.wait_for_position("order_views", 1, timeout=5.0))
            await CommandBus(open_event_store(database, deaf)).dispatch(create_order(new_id("order"), new_id("c")))

            assert await waiter is True
            assert await inbox.get(timeout=2.0) == RESYNC
    finally:
        await tracker.stop()


async def test_times_out_when_the_position_is_not_reached(tracker: ProjectionTracker) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    assert await tracker.wait_for_position("order_views", 10, timeout=0.1) is False

    assert 0.09 <= loop.time() - started < 1.0


async def test_listeners_get_contiguous_notices_and_resync_after_a_gap(
    tracker: ProjectionTracker, bus: InProcessBus
) -> None:
    channel = projection_channel("order_views")
    in_order = ProjectionAdvanced(name="order_views", from_position=0, position=3, streams={"o-1": 1})
    after_gap = ProjectionAdvanced(name="order_views", from_position=5, position=9, streams={"o-2": 4})
    async with tracker.listen("order_views") as inbox:
        await bus.publish(channel, in_order)
        await bus.publish(channel, in_order)  # a duplicate is dropped
        await bus.publish(channel, after_gap)  # 3..5 went missing
        assert await inbox.get(timeout=1.0) == in_order
        assert await inbox.get(timeout=1.0) == RESYNC
        assert await inbox.get(timeout=0.05) is None
        assert tracker.position("order_views") == 9
    assert tracker.listener_count() == 0


async def test_a_keyed_listener_hears_only_batches_that_touched_its_stream(
    tracker: ProjectionTracker, bus: InProcessBus
) -> None:
    channel = projection_channel("order_views")
    other = ProjectionAdvanced(name="order_views", from_position=0, position=2, streams={"o-2": 1})
    mine = ProjectionAdvanced(name="order_views", from_position=2, position=4, streams={"o-1": 1, "o-3": 1})
    after_gap = ProjectionAdvanced(name="order_views", from_position=6, position=7, streams={"o-9": 1})
    async with tracker.listen("order_views", key="o-1") as keyed, tracker.listen("order_views") as everything:
        assert tracker.listener_count() == 2
        for notice in (other, mine, after_gap):
            await bus.publish(channel, notice)
        assert await keyed.get(timeout=1.0) == mine
        assert await keyed.get(timeout=1.0) == RESYNC  # a gap concerns every listener
        assert await keyed.get(timeout=0.05) is None
        assert [await everything.get(timeout=1.0) for _ in range(3)] == [other, mine, RESYNC]
    assert tracker.listener_count() == 0


async def test_an_overflowing_bus_inbox_resyncs_every_listener(tracker: ProjectionTracker, bus: InProcessBus) -> None:
    async with tracker.listen("customer_summaries") as inbox:
        await bus.publish(projection_channel("order_views"), RESYNC)  # what an overflowed inbox yields
        assert await inbox.get(timeout=1.0) == RESYNC


async def test_one_poll_per_interval_however_many_listeners(
    bus: InProcessBus, database: Database
) -> None:
    interval = 0.2
    tracker = ProjectionTracker(bus, open_read_models(database), NAMES, poll_interval=interval)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await tracker.start()
    try:
        async with AsyncExitStack() as stack:
            for _ in range(50):
                await stack.enter_async_context(tracker.listen("order_views"))

            async def polled_a_few_times() -> bool:
                return tracker.polls >= 3

            await eventually(polled_a_few_times, timeout=60)
            polls, elapsed = tracker.polls, loop.time() - started
        # The first poll is at start, then one per whole interval: a slow machine only loosens
        # this bound, while a poll per listener (50 per interval) breaks it at any speed.
        assert polls <= 1 + elapsed / interval, (polls, elapsed)
        assert tracker.listener_count() == 0
        assert bus.subscriber_count() == 1
    finally:
        await tracker.stop()
    assert bus.subscriber_count() == 0
    assert not tracker.running


async def test_unknown_projection_names_are_refused(tracker: ProjectionTracker) -> None:
    with pytest.raises(KeyError):
        await tracker.wait_for_position("nope", 1, timeout=0)


async def test_wait_for_order_version_sees_the_write_or_times_out_with_what_it_has(
    tracker: ProjectionTracker,
    database: Database,
    commands: CommandBus,
    make_runner: RunnerFactory,
) -> None:
    orders = OrderViewQueries(open_read_models(database))
    order_id = new_id("order")
    runner = make_runner("order_views", poll_interval=30.0)
    await runner.start()

    waiter = asyncio.create_task(wait_for_order_version(tracker, orders, order_id, 2, timeout=5.0))
    await asyncio.sleep(0.05)
    result = await commands.dispatch(create_order(order_id, new_id("cust")))
    await commands.dispatch(add_item(order_id, item("more")))
    view = await waiter

    assert result.version == 1
    assert view is not None and view.version == 2
    stale = await wait_for_order_version(tracker, orders, order_id, 3, timeout=0.1)
    assert stale is not None and stale.version == 2
    assert await wait_for_order_version(tracker, orders, "missing", 1, timeout=0.05) is None
    assert tracker.listener_count() == 0


async def test_order_updates_emits_the_current_view_then_each_newer_version(
    tracker: ProjectionTracker, database: Database, commands: CommandBus, make_runner: RunnerFactory
) -> None:
    order_id = new_id("order")
    await commands.dispatch(create_order(order_id, new_id("cust")))
    runner = make_runner("order_views", poll_interval=30.0)
    await runner.start()
    orders = OrderViewQueries(open_read_models(database))
    await eventually(lambda: _has(orders, order_id))

    updates = order_updates(tracker, orders, order_id)
    try:
        first = await asyncio.wait_for(anext(updates), 2.0)
        await commands.dispatch(add_item(order_id, item("b")))
        second = await asyncio.wait_for(anext(updates), 2.0)
        await commands.dispatch(ship_order(order_id))
        third = await asyncio.wait_for(anext(updates), 2.0)
    finally:
        await updates.aclose()

    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert third.status == "SHIPPED"
    assert tracker.listener_count() == 0


async def _caught_up(runner: ProjectionRunner, store: SqlEventStore) -> bool:
    await runner.catch_up()
    return runner.position >= await store.head_position()


async def _has(orders: OrderViewQueries, order_id: str) -> bool:
    return await orders.get(order_id) is not None



class LateBus(InProcessBus):
    """Delivers every projection notice LATE seconds after it was published (a slow network)."""

    LATE = 0.15

    async def publish(self, channel: str, notice: Notice) -> None:
        if channel == EVENTS_CHANNEL:
            await super().publish(channel, notice)
        else:
            asyncio.get_running_loop().call_later(self.LATE, self._fanout.deliver, channel, notice)


async def test_a_poll_ahead_of_a_late_notice_waits_for_it_instead_of_resyncing_everyone(
    database: Database, make_runner: RunnerFactory
) -> None:
    late = LateBus()
    tracker = ProjectionTracker(late, open_read_models(database), NAMES, poll_interval=0.03)
    await tracker.start()
    try:
        await eventually(lambda: _known(tracker))
        runner = make_runner("order_views", bus=late, store=open_event_store(database, late), poll_interval=30.0)
        await runner.start()
        async with tracker.listen("order_views") as inbox:
            await CommandBus(open_event_store(database, late)).dispatch(create_order(new_id("order"), new_id("c")))
            await eventually(lambda: _committed(runner))
            polls = tracker.polls
            await eventually(lambda: _polled_since(tracker, polls + 2))  # polls saw the batch before its notice came

            notice = await inbox.get(timeout=5.0)
            assert isinstance(notice, ProjectionAdvanced) and notice.position == runner.position
            assert await inbox.get(timeout=3 * LateBus.LATE) is None  # and no RESYNC behind it
            assert tracker.position("order_views") == runner.position
    finally:
        await tracker.stop()


async def _committed(runner: ProjectionRunner) -> bool:
    return runner.position > 0


async def _polled_since(tracker: ProjectionTracker, polls: int) -> bool:
    return tracker.polls >= polls
