"""The cyclic collector is off while a projection batch runs (projections/collector_pause.py): shared by
concurrent holders, bounded by MAX_PAUSE, left alone when someone else disabled it, and on again after."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence

import pytest

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.sql_store import SqlEventStore
from projections import collector_pause
from projections.changes import BatchChanges
from projections.collector_pause import collector_paused
from projections.projector import Projector
from projections.read_models import KeyedRows
from projections.registry import PROJECTIONS
from tests.projections.builders import create_order, new_id
from tests.projections.conftest import RunnerFactory
from tests.projections.test_runner import visible


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_the_collector_is_off_inside_and_on_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
        assert collector_pause.paused()
    assert gc.isenabled()
    assert not collector_pause.paused()


def test_overlapping_holders_share_one_pause_and_the_last_one_ends_it() -> None:
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second batch is still in flight
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_an_error_in_the_block_still_ends_the_pause() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


def test_a_collector_disabled_by_someone_else_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    assert not collector_pause.paused()


def test_holders_that_keep_overlapping_collect_young_cycles_after_max_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector_pause, "MAX_PAUSE", 0.0)
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    outer = collector_paused()
    outer.__enter__()
    with collector_paused():
        pass  # leaves while `outer` is still in flight, after MAX_PAUSE
    assert collected == [0]
    assert not gc.isenabled()
    outer.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_slow_young_collection_spaces_out_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(collector_pause, "monotonic", lambda: now[0])
    collected: list[float] = []

    def collect(generation: int = 2) -> int:
        collected.append(now[0])
        now[0] += 0.1  # this collection takes 100 ms: the next waits 50 x as long
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    outer = collector_paused()
    outer.__enter__()

    def overlap(after: float) -> None:
        now[0] += after
        with collector_paused():
            pass

    overlap(1.5)  # past MAX_PAUSE: collects
    assert len(collected) == 1
    overlap(1.5)
    overlap(3.0)  # 4.5 s after a 100 ms collection: not yet
    assert len(collected) == 1
    overlap(0.6)  # 5.1 s after it
    assert len(collected) == 2
    outer.__exit__(None, None, None)
    assert gc.isenabled()
    outer = collector_paused()  # a new pause starts from MAX_PAUSE again
    outer.__enter__()
    overlap(1.5)
    assert len(collected) == 3
    outer.__exit__(None, None, None)


async def test_a_runner_plans_its_batches_with_the_collector_paused_and_leaves_it_on(
    commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    for _ in range(3):
        await commands.dispatch(create_order(new_id("order"), new_id("cust")))
    await visible(store)
    seen: list[bool] = []
    real = PROJECTIONS["order_views"]

    async def plan(reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
        seen.append(gc.isenabled())
        return await real.plan(reader, events)

    runner = make_runner("order_views", Projector(plan=plan, tables=real.tables, version=real.version), batch_size=1)
    assert await runner.catch_up() == 3
    assert seen == [False, False, False]
    assert gc.isenabled()
