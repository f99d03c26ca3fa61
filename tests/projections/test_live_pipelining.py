"""Live, a short batch's commit does not hold back the next read when a later append's notice already waits
(projections/runner.py, Doorbell.news): the next batch is planned beside the commit, and the notices still
leave one per batch, in order, each after its commit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.bus import EVENTS_CHANNEL, projection_channel
from eventstore.local_bus import InProcessBus
from eventstore.messages import RESYNC, EventsAppended, ProjectionAdvanced
from projections.changes import BatchChanges
from projections.doorbell import Doorbell, Wake
from projections.read_models import KeyedRows, ReadModelStore
from projections.registry import PROJECTIONS
from tests.projections.builders import create_order, item, new_id
from tests.projections.conftest import RunnerFactory
from tests.projections.test_pipelined_batches import GatedCommits, PlanLog


class AppendingPlan(PlanLog):
    """The first batch's plan appends one more order and returns once its notice is in the runner's inbox."""

    def __init__(self, name: str, commits: GatedCommits, commands: CommandBus) -> None:
        super().__init__(name, commits)
        self.commands = commands

    async def plan(self, reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
        if not self.planned:
            await self.commands.dispatch(create_order(new_id("order"), "c-2", item("b", 1, "2.00")))
            await asyncio.sleep(0.01)  # the in-process bus hands the notice over in a callback
        return await super().plan(reader, events)


@pytest.mark.parametrize("name", list(PROJECTIONS))
async def test_a_live_batch_is_planned_beside_the_commit_before_it_when_its_notice_already_waits(
    name: str, read_models: ReadModelStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    commits = GatedCommits(read_models)
    plans = AppendingPlan(name, commits, commands)

    async def hold(_: int, to_position: int) -> None:  # the first commit ends only after the next plan
        if to_position == 1:
            await plans.until_planned_after(to_position)

    commits.hold = hold
    runner = make_runner(name, projector=plans.as_projector(), read_models=commits, poll_interval=10.0)
    async with bus.subscribe(projection_channel(name)) as inbox:
        await runner.start()
        await asyncio.sleep(0.05)  # the runner waits at its doorbell
        await commands.dispatch(create_order(new_id("order"), "c-1", item("a", 1, "1.00")))
        notices = [await inbox.get(timeout=5), await inbox.get(timeout=5)]

    # The second batch was planned while the first one's commit had not ended.
    assert plans.planned == [(1, 0), (2, 0)]
    assert commits.committed == [(0, 1), (1, 2)]
    assert [(notice.from_position, notice.position) for notice in notices if isinstance(notice, ProjectionAdvanced)] == [
        (0, 1),
        (1, 2),
    ]


async def test_news_reads_the_inbox_without_waiting_and_keeps_a_resync_for_wait(bus: InProcessBus) -> None:
    async with bus.subscribe(EVENTS_CHANNEL) as inbox:
        doorbell = Doorbell(inbox, poll_interval=10.0)
        assert not await doorbell.news(0)  # an empty inbox: no news, at once
        await bus.publish(EVENTS_CHANNEL, EventsAppended(stream_id="o", version=1, first_position=3, position=3))
        await asyncio.sleep(0)
        assert await doorbell.news(2)
        assert not await doorbell.news(3)
        await bus.publish(EVENTS_CHANNEL, RESYNC)
        await asyncio.sleep(0)
        assert not await doorbell.news(0)  # a RESYNC: the runner goes back to its doorbell ...
        assert await asyncio.wait_for(doorbell.wait(3), timeout=1) is Wake.RESYNC  # ... which returns it at once
