"""A handed-over orderProjected wait (resolvers/projected_handoff.py) acts on what came while it was handed over."""

from __future__ import annotations

from typing import Any

from eventstore.messages import RESYNC, ProjectionAdvanced, StreamParked
from orderly.compact_projected import ProjectedOperation
from orderly.compact_subscriptions import DELIVERIES
from resolvers.projected_handoff import ProjectedWatch
from resolvers.update_handoff import Handoff


class Tracker:
    """Registers watches (the tracker's part a handed-over wait uses)."""

    def __init__(self) -> None:
        self.watched: set[Any] = set()

    def watch(self, name: str, key: str, inbox: Any) -> None:
        self.watched.add(inbox)

    def unwatch(self, name: str, key: str, inbox: Any) -> None:
        self.watched.discard(inbox)


class NoReads:
    async def get(self, order_id: str) -> None:
        return None


def _watch(tracker: Tracker) -> ProjectedWatch:
    watch = ProjectedWatch(tracker, NoReads(), "o-1", min_version=2, deadline=None, timeout_ms=None)
    watch.register()
    return watch


def test_notices_queued_before_the_handoff_are_judged_by_the_waits_rules() -> None:
    watch = _watch(Tracker())
    watch.put(ProjectionAdvanced(name="order_views", from_position=0, position=3, streams={"o-2": 1}))
    watch.put(StreamParked(name="order_views", stream_id="o-1", version=1, position=3))  # the order was never seen
    assert not watch.pending()
    watch.put(ProjectionAdvanced(name="order_views", from_position=3, position=5, streams={"o-1": 1}))
    assert watch.pending()
    watch.put(RESYNC)
    assert watch.pending() and watch.resynced
    watch.saw_order_at(1)
    watch.put(StreamParked(name="order_views", stream_id="o-1", version=2, position=6))
    assert watch.pending() and watch.parked_at == 2


async def test_a_notice_that_came_during_the_handoff_starts_a_look_when_the_handler_takes_over() -> None:
    tracker = Tracker()
    handoff = Handoff()
    handoff.watch = watch = _watch(tracker)
    handoff.accepted = True
    watch.put(ProjectionAdvanced(name="order_views", from_position=0, position=3, streams={"o-1": 2}))
    opened = DELIVERIES.open
    operation = ProjectedOperation(object(), "1", handoff, ("query", None, None), None, legacy=False)
    operation.start()
    assert operation.sending  # a look is under way
    assert DELIVERIES.open == opened + 1
    operation.close()
    assert DELIVERIES.open == opened and tracker.watched == set()
