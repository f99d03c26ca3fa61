"""The heap freezer: survivors frozen by batch (out of every collection), and frozen garbage
cycles collected again once many subscriptions have closed (freezing does not leak)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from orderly.gc_tuning import HeapFreezer, frozen_heap
from resolvers.subscription_tally import SubscriptionTally


class Node:
    """A cycle of two: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.partner = Partner(self)


class Partner:
    def __init__(self, node: Node) -> None:
        self.node = node


@pytest.fixture(autouse=True)
def thawed_heap() -> Iterator[None]:
    """Each test starts and ends with nothing frozen (the test process freezes nothing else)."""
    gc.unfreeze()
    gc.collect()
    yield
    gc.unfreeze()
    gc.collect()


def test_survivors_are_frozen_once_they_are_a_batch() -> None:
    freezer = HeapFreezer(SubscriptionTally(), batch=5_000)
    kept = [[number] for number in range(20_000)]
    gc.collect()
    assert gc.get_freeze_count() == 0
    freezer.step()
    assert freezer.freezes == 1 and freezer.thaws == 0
    assert gc.get_freeze_count() >= len(kept)
    assert len(gc.get_objects(generation=2)) < 5_000
    freezer.step()
    assert freezer.freezes == 1  # nothing new to freeze


def test_a_small_heap_is_left_alone() -> None:
    freezer = HeapFreezer(SubscriptionTally(), batch=10**9)
    freezer.step()
    assert (freezer.freezes, freezer.thaws, gc.get_freeze_count()) == (0, 0, 0)


def test_frozen_garbage_cycles_are_collected_once_as_many_subscriptions_closed_as_are_open() -> None:
    tally = SubscriptionTally()
    freezer = HeapFreezer(tally, batch=1_000, thaw_after=10)
    for _ in range(30):
        tally.__enter__()  # 30 subscriptions open
    cycles = [Node() for _ in range(2_000)]  # what the subscriptions hold
    alive = [weakref.ref(node) for node in cycles]
    freezer.step()
    assert freezer.freezes == 1
    del cycles  # the subscriptions end; their cycles are garbage now
    gc.collect()
    assert all(ref() is not None for ref in alive), "frozen cycles are out of the collector's reach"
    for _ in range(14):
        tally.__exit__(None, None, None)
    freezer.step()
    assert freezer.thaws == 0  # 14 closed, 16 open: not yet worth a full collection
    tally.__exit__(None, None, None)
    freezer.step()
    assert freezer.thaws == 1
    assert all(ref() is None for ref in alive)
    freezer.step()
    assert freezer.thaws == 1  # counted from the last thaw


def test_the_tally_counts_subscriptions_however_they_end() -> None:
    tally = SubscriptionTally()
    with tally:
        assert (tally.opened, tally.closed, tally.open) == (1, 0, 1)
    with pytest.raises(ValueError), tally:
        raise ValueError("the subscription failed")
    assert (tally.opened, tally.closed, tally.open) == (2, 2, 0)


async def test_the_freezer_runs_while_the_block_does_and_stops_with_it() -> None:
    before = {task.get_name() for task in asyncio.all_tasks()}
    async with frozen_heap(SubscriptionTally()) as freezer:
        assert "heap-freezer" in {task.get_name() for task in asyncio.all_tasks()} - before
        assert gc.get_freeze_count() > 0  # the start-up objects
        assert freezer.thaws == 0
    assert "heap-freezer" not in {task.get_name() for task in asyncio.all_tasks()}
