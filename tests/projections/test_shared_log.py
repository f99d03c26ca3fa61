"""The shared log: one query for concurrent readers of a range, full batches kept while catching up, short ones not."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import weakref
from collections.abc import Sequence

import pytest

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.sql_store import SqlEventStore
from projections.read_models import ReadModelStore
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from projections.shared_log import SharedEventLog
from tests.projections.builders import History, item
from tests.projections.conftest import RunnerFactory
from tests.projections.test_growing_batches import _history
from tests.projections.test_runner import visible


class CountingLog:
    """An in-memory log that counts reads and can hold them until released."""

    def __init__(self, events: Sequence[RecordedEvent]) -> None:
        self.events = list(events)
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def read_log(self, after: int, limit: int) -> Sequence[RecordedEvent]:
        self.reads += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [event for event in self.events if event.position > after][:limit]

    async def head_position(self) -> int:
        return self.events[-1].position if self.events else 0


def history(orders: int) -> list[RecordedEvent]:
    built = History()
    for number in range(orders):
        built.created(f"o-{number}", "c-1", item("a", 1, "1"))
    return built.events


async def test_concurrent_reads_of_a_range_share_one_query() -> None:
    log = CountingLog(history(3))
    log.gate.clear()
    shared = SharedEventLog(log)
    first = asyncio.create_task(shared.read_log(0, 10))
    second = asyncio.create_task(shared.read_log(0, 10))
    await asyncio.sleep(0)
    log.gate.set()
    assert [e.position for e in await first] == [e.position for e in await second] == [1, 2, 3]
    assert log.reads == 1


async def test_full_batches_are_kept_and_short_ones_read_again() -> None:
    log = CountingLog(history(3))
    shared = SharedEventLog(log)
    assert len(await shared.read_log(0, 2)) == 2
    assert len(await shared.read_log(0, 2)) == 2
    assert log.reads == 1  # full: kept

    assert len(await shared.read_log(2, 2)) == 1
    later = History(start=3)
    later.created("o-new", "c-1", item("a", 1, "1"))
    log.events.extend(later.events)
    # Short: the log may have grown since, so it is read again and shows the new event.
    assert [e.position for e in await shared.read_log(2, 2)] == [3, 4]
    assert log.reads == 3


async def test_only_the_newest_full_batches_are_kept() -> None:
    log = CountingLog(history(6))
    shared = SharedEventLog(log, keep=2)
    for after in (0, 1, 2):
        await shared.read_log(after, 1)
    await shared.read_log(0, 1)
    assert log.reads == 4  # (0, 1) was evicted by (1, 1) and (2, 1)


async def test_a_cancelled_reader_does_not_cancel_the_others() -> None:
    log = CountingLog(history(2))
    log.gate.clear()
    shared = SharedEventLog(log)
    leaving = asyncio.create_task(shared.read_log(0, 5))
    staying = asyncio.create_task(shared.read_log(0, 5))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    log.gate.set()
    assert len(await staying) == 2
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_failed_read_reaches_every_waiter_and_is_not_kept() -> None:
    log = CountingLog(history(2))
    log.gate.clear()
    log.fail = RuntimeError("database down")
    shared = SharedEventLog(log)
    readers = [asyncio.create_task(shared.read_log(0, 2)) for _ in range(2)]
    await asyncio.sleep(0)
    log.gate.set()
    outcomes = await asyncio.gather(*readers, return_exceptions=True)
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    log.fail = None
    assert len(await shared.read_log(0, 2)) == 2
    assert log.reads == 2


class FreshLog(CountingLog):
    """As CountingLog, but each read decodes new event objects: only its readers (and the shared log) hold them."""

    async def read_log(self, after: int, limit: int) -> Sequence[RecordedEvent]:
        return [dataclasses.replace(event) for event in await super().read_log(after, limit)]


async def test_a_short_read_drops_the_kept_batches_and_their_events() -> None:
    log = FreshLog(history(5))
    shared = SharedEventLog(log)
    batches = [await shared.read_log(0, 2), await shared.read_log(2, 2)]
    held = [weakref.ref(event) for batch in batches for event in batch]
    assert shared.kept == 4
    del batches
    gc.collect()
    assert all(ref() is not None for ref in held)  # kept for a runner a step behind

    assert [e.position for e in await shared.read_log(4, 2)] == [5]  # short: a runner is live
    gc.collect()
    assert shared.kept == 0
    assert [ref() for ref in held] == [None] * 4
    reads = log.reads
    assert [e.position for e in await shared.read_log(0, 2)] == [1, 2]
    assert log.reads == reads + 1  # read again from the log


@pytest.mark.parametrize("live_first", list(PROJECTIONS))
async def test_runners_caught_up_through_the_shared_log_leave_no_events_in_it(
    live_first: str,
    read_models: ReadModelStore,
    store: SqlEventStore,
    commands: CommandBus,
    make_runner: RunnerFactory,
) -> None:
    await _history(commands, 9)
    await visible(store)
    shared = SharedEventLog(store)
    runners = {name: make_runner(name, store=shared, batch_size=2, max_batch_size=4) for name in PROJECTIONS}
    # One runner reaches the log's end while the other has not started: it reads its batches itself.
    assert await runners[live_first].catch_up() == 9 * 2 + 6
    assert shared.kept == 0
    for name, runner in runners.items():
        if name != live_first:
            assert await runner.catch_up() == 9 * 2 + 6
    assert shared.kept == 0
    # Side by side from zero, as a projector process catches up.
    for name in PROJECTIONS:
        await rebuild(read_models, name)  # clears the tables, checkpoint to 0
    assert await asyncio.gather(*(runner.catch_up() for runner in runners.values())) == [9 * 2 + 6] * len(runners)
    assert shared.kept == 0


async def test_a_shared_log_that_ends_with_its_readers_may_keep_its_batches_past_a_short_read() -> None:
    log = CountingLog(history(3))
    shared = SharedEventLog(log, keep_when_live=True)
    await shared.read_log(0, 2)
    await shared.read_log(2, 2)  # short
    assert shared.kept == 2
    await shared.read_log(0, 2)
    assert log.reads == 2
