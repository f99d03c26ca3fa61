"""The next batch is read while the current one is applied (projections/read_ahead.py): a read ahead serves
only its own range, is discarded when the runner moves elsewhere, and a catch-up through it leaves the same rows."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.sql_store import SqlEventStore
from projections.changes import BatchChanges
from projections.projector import Projector
from projections.read_ahead import ReadAhead
from projections.read_models import KeyedRows
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from tests.projections.conftest import RunnerFactory
from tests.projections.test_growing_batches import RecordingLog, _history, _rows
from tests.projections.test_runner import visible


class GatedLog:
    """A log whose reads wait for a gate, remembering every range asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []
        self.cancelled: list[tuple[int, int]] = []
        self.gate = asyncio.Event()

    async def read_log(self, after: int, limit: int) -> Sequence[RecordedEvent]:
        self.asked.append((after, limit))
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append((after, limit))
            raise
        if after >= 100:
            raise RuntimeError("log unavailable")
        return []

    async def head_position(self) -> int:
        return 0


async def test_a_read_ahead_serves_its_own_range_once() -> None:
    log = GatedLog()
    ahead = ReadAhead(log)
    await ahead.start(10, 4)
    await asyncio.sleep(0)
    assert log.asked == [(10, 4)]  # started before anyone waits for it
    log.gate.set()
    assert await ahead.read_log(10, 4) == []
    assert await ahead.read_log(10, 4) == []
    assert log.asked == [(10, 4), (10, 4)]  # used once, then read anew


async def test_a_read_ahead_of_another_range_is_cancelled_and_the_range_asked_for_is_read() -> None:
    log = GatedLog()
    ahead = ReadAhead(log)
    await ahead.start(10, 4)
    await asyncio.sleep(0)
    log.gate.set()
    assert await ahead.read_log(7, 4) == []  # the checkpoint moved: the read ahead is of no use
    await asyncio.sleep(0)
    assert log.asked == [(10, 4), (7, 4)]


async def test_a_discarded_read_ahead_is_cancelled_and_its_error_dropped(caplog: pytest.LogCaptureFixture) -> None:
    log = GatedLog()
    ahead = ReadAhead(log)
    await ahead.start(10, 4)
    await asyncio.sleep(0)
    ahead.discard()
    await asyncio.sleep(0)
    assert log.cancelled == [(10, 4)]
    await ahead.start(100, 4)  # will fail, and is discarded before anyone reads it
    log.gate.set()
    await asyncio.sleep(0)
    ahead.discard()
    await asyncio.sleep(0.01)
    assert "never retrieved" not in caplog.text


@pytest.mark.parametrize("name", list(PROJECTIONS))
async def test_a_catch_up_reads_each_full_batch_s_successor_ahead_and_leaves_the_rows_of_a_plain_fold(
    name: str, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory, read_models: object
) -> None:
    await _history(commands, 9)  # 9 * 2 + 6 = 24 events
    await visible(store)
    log = RecordingLog(store)
    assert await make_runner(name, store=log, batch_size=2, max_batch_size=8).catch_up() == 24
    assert log.limits == [2, 4, 8, 8, 8]  # 2 + 4 + 8 + 8 = 22, then 2 of 8: short, nothing read beyond it
    ahead_rows = await _rows(read_models, name)  # type: ignore[arg-type]

    await rebuild(read_models, name)  # type: ignore[arg-type]
    assert await make_runner(name, batch_size=1).catch_up() == 24
    assert await _rows(read_models, name) == ahead_rows  # type: ignore[arg-type]


async def test_the_next_batch_is_asked_for_before_the_current_one_is_planned(
    commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    await _history(commands, 3)  # 3 * 2 + 2 = 8 events
    await visible(store)
    steps: list[str] = []

    class Log(RecordingLog):
        async def read_log(self, after: int, limit: int) -> list[RecordedEvent]:
            steps.append(f"read {after}+{limit}")
            return await super().read_log(after, limit)

    real = PROJECTIONS["order_views"]

    async def plan(reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
        steps.append(f"plan {events[0].position - 1}")
        return await real.plan(reader, events)

    first = (await store.read_log(0, 1))[0].position - 1
    projector = Projector(plan=plan, tables=real.tables)
    runner = make_runner("order_views", projector, store=Log(store), batch_size=2, max_batch_size=4)
    assert await runner.catch_up() == 8
    assert steps[:3] == [
        f"read {first}+2",
        f"read {first + 2}+4",
        f"plan {first}",
    ]
