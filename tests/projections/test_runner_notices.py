"""The runner's notices: sent after each commit and in order, without holding up the next batch."""

from __future__ import annotations

import asyncio

from domain.command_bus import CommandBus
from eventstore.bus import projection_channel
from eventstore.local_bus import InProcessBus
from eventstore.messages import Notice, ProjectionAdvanced
from eventstore.sql_store import SqlEventStore
from tests.projections.builders import create_order, item, new_id
from tests.projections.conftest import RunnerFactory, eventually


class GatedBus(InProcessBus):
    """An in-process bus whose publish waits while the gate is closed (a slow Redis round trip)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def publish(self, channel: str, notice: Notice) -> None:
        await self.gate.wait()
        await super().publish(channel, notice)


async def test_a_slow_announcement_does_not_hold_up_the_next_batch(
    make_runner: RunnerFactory, commands: CommandBus, store: SqlEventStore
) -> None:
    bus = GatedBus()
    runner = make_runner("order_views", bus=bus)
    async with bus.subscribe(projection_channel("order_views")) as inbox:
        await runner.start()
        await eventually(lambda: _at_head(runner.position, store))
        start = runner.position

        for _ in range(2):  # two batches while the first batch's notice cannot leave
            await commands.dispatch(create_order(new_id("order"), "c-1", item()))
            await eventually(lambda: _at_head(runner.position, store))
        assert await inbox.get(timeout=0) is None

        bus.gate.set()
        notices: list[ProjectionAdvanced] = []
        while not notices or notices[-1].position < runner.position:
            notice = await inbox.get(timeout=2)
            assert isinstance(notice, ProjectionAdvanced), notice
            notices.append(notice)

    assert len(notices) >= 2
    assert [notice.from_position for notice in notices] == [start, *(notice.position for notice in notices[:-1])]


async def _at_head(position: int, store: SqlEventStore) -> bool:
    return position >= await store.head_position()
