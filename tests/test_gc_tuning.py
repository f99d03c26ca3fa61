"""The heap freezer: survivors frozen by batch (out of every collection), and frozen garbage
cycles collected again once enough frozen objects have died (freezing does not leak)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from orderly.gc_tuning import HeapFreezer, frozen_heap


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
    freezer = HeapFreezer(batch=5_000)
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
    freezer = HeapFreezer(batch=10**9)
    freezer.step()
    assert (freezer.freezes, freezer.thaws, gc.get_freeze_count()) == (0, 0, 0)


def test_frozen_garbage_cycles_are_collected_once_enough_frozen_objects_died() -> None:
    freezer = HeapFreezer(batch=1_000)
    cycles = [Node() for _ in range(2_000)]
    alive = [weakref.ref(node) for node in cycles]
    # More objects than the rest of the heap, so that their death frees most of what is frozen.
    others = [[number] for number in range(len(gc.get_objects()) + 20_000)]
    freezer.step()
    assert freezer.freezes == 1
    del cycles
    gc.collect()
    assert all(ref() is not None for ref in alive), "frozen cycles are out of the collector's reach"
    freezer.step()
    assert freezer.thaws == 0  # few frozen objects died: not yet worth a full collection
    del others  # freed by reference counting although frozen: most of the frozen heap is gone
    assert freezer.freed_since_thaw() >= 20_000
    freezer.step()
    assert freezer.thaws == 1
    assert all(ref() is None for ref in alive)
    assert freezer.freed_since_thaw() == 0


async def test_the_freezer_runs_while_the_block_does_and_stops_with_it() -> None:
    before = {task.get_name() for task in asyncio.all_tasks()}
    async with frozen_heap() as freezer:
        assert "heap-freezer" in {task.get_name() for task in asyncio.all_tasks()} - before
        assert gc.get_freeze_count() > 0  # the start-up objects
        assert freezer.thaws == 0
    assert "heap-freezer" not in {task.get_name() for task in asyncio.all_tasks()}
