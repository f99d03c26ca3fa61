"""Finding the poison in a failed batch: every poisoned stream, each at its first failing event."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from domain.errors import ServiceUnavailableError
from domain.ports import RecordedEvent
from projections.changes import BatchChanges
from projections.poison import find_poison
from projections.read_models import KeyedRows
from tests.projections.builders import History, item


class PoisonedPlan:
    """Plans like a projector that cannot fold the given positions (and counts its calls)."""

    def __init__(self, poison: set[int]) -> None:
        self.poison = poison
        self.calls = 0

    async def __call__(self, reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
        self.calls += 1
        for recorded in events:
            if recorded.position in self.poison:
                raise ValueError(f"cannot fold position {recorded.position}")
        return BatchChanges()


def interleaved(streams: int, events_each: int) -> list[RecordedEvent]:
    history = History()
    for _ in range(events_each):
        for stream in range(streams):
            order_id = f"order-{stream}"
            if stream not in {int(event.stream_id.split("-")[1]) for event in history.events}:
                history.created(order_id, "cust")
            else:
                history.added(order_id, item())
    return history.events


async def test_every_poisoned_stream_is_found_at_its_first_failing_event() -> None:
    events = interleaved(streams=40, events_each=5)
    by_position = {event.position: event for event in events}
    # order-3 fails from its version 2 (and again at 4), order-27 at its version 5.
    poison = {event.position for event in events if (event.stream_id, event.version) in {
        ("order-3", 2), ("order-3", 4), ("order-27", 5)}}
    plan = PoisonedPlan(poison)

    found = await find_poison(plan, None, events)  # the fake plan reads nothing

    assert {stream: (p.event.version, str(p.error)) for stream, p in found.items()} == {
        "order-3": (2, f"cannot fold position {min(pos for pos in poison if by_position[pos].stream_id == 'order-3')}"),
        "order-27": (5, f"cannot fold position {next(pos for pos in poison if by_position[pos].stream_id == 'order-27')}"),
    }
    assert plan.calls < 40  # bisected, not stream by stream


async def test_a_batch_that_no_stream_alone_breaks_yields_nothing() -> None:
    events = interleaved(streams=4, events_each=2)
    assert await find_poison(PoisonedPlan(set()), None, events) == {}


async def test_a_database_error_is_raised_not_blamed_on_a_stream() -> None:
    async def unreachable(reader: KeyedRows, batch: Sequence[RecordedEvent]) -> BatchChanges:
        raise ServiceUnavailableError("the database cannot be reached")

    with pytest.raises(ServiceUnavailableError):
        await find_poison(unreachable, None, interleaved(streams=2, events_each=1))
