"""Starting and stopping: the leadership seam, no leaked tasks or subscriptions, sure cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from domain.command_bus import CommandBus
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from eventstore.tasks import cancel_and_wait
from orderly.bootstrap import open_read_models
from projections.checkpoints import ProjectionState
from projections.order_views.queries import OrderViewQueries
from tests.projections.builders import create_order, new_id
from tests.projections.conftest import RunnerFactory, eventually


async def test_the_runner_does_nothing_until_it_holds_the_lease(
    database: Database, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    leadership = asyncio.Lock()
    entered: list[str] = []

    @asynccontextmanager
    async def lease() -> AsyncIterator[None]:
        async with leadership:
            entered.append("in")
            try:
                yield
            finally:
                entered.append("out")

    order_id = new_id("order")
    await commands.dispatch(create_order(order_id, new_id("cust")))
    orders = OrderViewQueries(open_read_models(database))
    await leadership.acquire()  # another process leads
    runner = make_runner("order_views", lease=lease)
    await runner.start()
    await asyncio.sleep(0.2)
    assert entered == [] and await orders.get(order_id) is None
    assert runner.state is ProjectionState.STOPPED

    leadership.release()

    async def projected() -> bool:
        return await orders.get(order_id) is not None

    await eventually(projected)
    await runner.stop()
    assert entered == ["in", "out"]
    assert not runner.running
    assert bus.subscriber_count() == 0


async def test_stop_releases_the_task_and_the_bus_subscription(
    bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    runner = make_runner("customer_summaries")
    tasks_before = len(asyncio.all_tasks())
    await runner.start()
    await eventually(lambda: _state_is_running(runner.state))
    assert bus.subscriber_count() == 1

    await runner.stop()
    await runner.stop()  # twice is harmless

    assert bus.subscriber_count() == 0
    assert len(asyncio.all_tasks()) == tasks_before
    assert runner.state is ProjectionState.STOPPED


async def test_cancel_and_wait_ends_a_task_that_swallowed_a_cancellation() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            swallowed.set()  # as asyncio.wait_for may do on Python 3.11
        await asyncio.sleep(10)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)

    await asyncio.wait_for(cancel_and_wait(task), 2.0)

    assert swallowed.is_set() and task.cancelled()


async def _state_is_running(state: ProjectionState) -> bool:
    return state is ProjectionState.RUNNING
