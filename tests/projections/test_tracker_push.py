"""Notices pushed to the tracker by the bus's tap (projections/tracker.py): applied in the
publisher's call, and a notice that comes while a poll reads does not make the poll look like
a rebuild (RESYNC for everyone, the position put back) nor lose a parking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from eventstore.bus import projection_channel
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from eventstore.messages import RESYNC, ProjectionAdvanced, StreamParked
from orderly.bootstrap import open_read_models
from projections import tracker as tracker_module
from projections.tracker import ProjectionTracker
from tests.projections.conftest import eventually

NAMES = ("order_views", "customer_summaries")
CHANNEL = projection_channel("order_views")


async def _known(tracker: ProjectionTracker) -> bool:
    return all(tracker.position(name) is not None for name in NAMES)


@pytest.fixture
async def tracker(bus: InProcessBus, database: Database) -> AsyncIterator[ProjectionTracker]:
    """A started tracker that polls rarely."""
    tracker = ProjectionTracker(bus, open_read_models(database), NAMES, poll_interval=30.0)
    await tracker.start()
    await eventually(lambda: _known(tracker))
    try:
        yield tracker
    finally:
        await tracker.stop()


async def test_a_notice_is_applied_and_handed_to_listeners_in_the_publishers_call(
    tracker: ProjectionTracker, bus: InProcessBus
) -> None:
    known = tracker.position("order_views") or 0
    notice = ProjectionAdvanced(name="order_views", from_position=known, position=known + 3, streams={"o-1": 1})
    async with tracker.listen("order_views", key="o-1") as inbox:
        await bus.publish(CHANNEL, notice)  # the in-process bus delivers without awaiting anything
        # No turn of the event loop in between: neither the tracker's task nor any other ran.
        assert tracker.position("order_views") == known + 3
        assert await inbox.get(timeout=0) == notice
    assert bus.subscriber_count() == 1  # the tracker's tap


async def test_a_pushed_resync_makes_the_tracker_poll_soon(tracker: ProjectionTracker, bus: InProcessBus) -> None:
    polls = tracker.polls
    async with tracker.listen("customer_summaries") as inbox:
        await bus.publish(CHANNEL, RESYNC)
        assert await inbox.get(timeout=0) == RESYNC
    await eventually(lambda: _polled_since(tracker, polls + 1))  # not after the 30 s interval


def _during_read(
    monkeypatch: pytest.MonkeyPatch, tracker: ProjectionTracker, reader_name: str, act: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[bool]]:
    """Run `act` once, right after the poll's read `reader_name` has read (so the read misses it); the
    condition that this poll has then observed what it read."""
    real = getattr(tracker_module, reader_name)
    acted = asyncio.Event()

    async def read_then_act(*args: Any) -> Any:
        result = await real(*args)
        if not acted.is_set():
            await act()
            acted.set()
        return result

    async def observed() -> bool:
        # The poll observes what it read in the same step as it stops collecting parkings.
        return acted.is_set() and tracker._noticed_parked is None  # noqa: SLF001

    monkeypatch.setattr(tracker_module, reader_name, read_then_act)
    return observed


async def test_a_notice_during_a_poll_is_not_taken_back_by_the_polls_older_read(
    tracker: ProjectionTracker, bus: InProcessBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = tracker.position("order_views") or 0
    notice = ProjectionAdvanced(name="order_views", from_position=known, position=known + 5, streams={"o-7": 2})
    observed = _during_read(monkeypatch, tracker, "read_checkpoints", lambda: bus.publish(CHANNEL, notice))
    await bus.publish(CHANNEL, RESYNC)  # a poll now (the next one is 30 s away)
    async with tracker.listen("order_views") as inbox:
        await eventually(observed)

        assert tracker.position("order_views") == known + 5  # not put back to the checkpoint read before it
        assert await inbox.get(timeout=0) == notice
        assert await inbox.get(timeout=0) is None  # no RESYNC: the stale read was no rebuild


async def test_a_parking_noticed_during_a_poll_is_kept_over_the_table_read_that_missed_it(
    tracker: ProjectionTracker, bus: InProcessBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    parked = StreamParked(name="order_views", stream_id="o-9", version=3, position=40)
    observed = _during_read(monkeypatch, tracker, "read_parked_places", lambda: bus.publish(CHANNEL, parked))
    await bus.publish(CHANNEL, RESYNC)  # a poll now
    await eventually(observed)

    assert tracker._parked["order_views"] == {"o-9": 3}  # noqa: SLF001 - what parked_version asks first


async def _polled_since(tracker: ProjectionTracker, polls: int) -> bool:
    return tracker.polls >= polls
