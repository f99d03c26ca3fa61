"""The shared log: one query for concurrent readers of a range, full batches kept, short ones not."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from domain.ports import RecordedEvent
from projections.shared_log import SharedEventLog
from tests.projections.builders import History, item


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
