"""Finding the events a projector cannot apply in a batch that failed: bisect by stream, then by event.

A batch fails as a whole; to go on with every other stream the runner needs the streams
that make it fail and, in each, the first event that does. Streams are bisected (a group
that plans cleanly is innocent), then each guilty stream's events by prefix (folding is
in order, so once a prefix fails every longer one does): O(k log n) plans for k poisoned
streams among n. An error that says the database cannot be reached proves nothing about
the events and is raised at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import ServiceUnavailableError
from domain.ports import RecordedEvent
from eventstore.database import is_unavailable
from projections.projector import PlanBatch
from projections.read_models import KeyedRows


@dataclass(frozen=True, kw_only=True)
class Poison:
    """The first event of a stream that the projector cannot apply, and the error it raised."""

    event: RecordedEvent
    error: Exception


def is_transient(error: BaseException) -> bool:
    """Whether the error is the database's (unreachable, timed out), not the events'."""
    return isinstance(error, ServiceUnavailableError) or is_unavailable(error)


async def find_poison(plan: PlanBatch, reader: KeyedRows, events: Sequence[RecordedEvent]) -> dict[str, Poison]:
    """The streams of events that the projector cannot plan, each with its first failing event."""
    by_stream: dict[str, list[RecordedEvent]] = {}
    for recorded in events:
        by_stream.setdefault(recorded.stream_id, []).append(recorded)

    async def failure(streams: Sequence[str]) -> Exception | None:
        return await _plan_error(plan, reader, [recorded for stream in streams for recorded in by_stream[stream]])

    guilty: list[str] = []
    pending = [list(by_stream)]
    while pending:
        streams = pending.pop()
        if not streams or await failure(streams) is None:
            continue
        if len(streams) == 1:
            guilty.extend(streams)
        else:
            middle = len(streams) // 2
            pending += [streams[middle:], streams[:middle]]
    found = {}
    for stream in guilty:
        poison = await _first_failing(plan, reader, by_stream[stream])
        if poison is not None:
            found[stream] = poison
    return found


async def _first_failing(plan: PlanBatch, reader: KeyedRows, stream: Sequence[RecordedEvent]) -> Poison | None:
    """The event at which the stream's prefixes start failing (None when even the whole stream plans)."""
    error = await _plan_error(plan, reader, stream)
    if error is None:
        return None
    low, high = 1, len(stream)  # the shortest failing prefix is in [low, high]; stream[:high] fails with error
    while low < high:
        middle = (low + high) // 2
        found = await _plan_error(plan, reader, stream[:middle])
        if found is None:
            low = middle + 1
        else:
            high, error = middle, found
    return Poison(event=stream[high - 1], error=error)


async def _plan_error(plan: PlanBatch, reader: KeyedRows, events: Sequence[RecordedEvent]) -> Exception | None:
    try:
        await plan(reader, events)
    except Exception as error:
        if is_transient(error):
            raise
        return error
    return None
