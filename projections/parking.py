"""The runner's side of parking: hold parked streams back, park poison after bounded retries, serve requests.

- A batch that fails is retried (the runner's backoff); once it has failed `retries + 1`
  times in a row at the same position, the poisoned streams are found (poison.py), their
  events from the failing one on are held back, the rest of the batch is planned again,
  and the parking rows commit WITH the batch and its checkpoint (an Upsert): a kill -9
  either loses both or keeps both, so no event is ever skipped silently.
- Later events of a parked stream are held back too (admitted() drops them); the
  checkpoint moves on for everyone else.
- Operators record requests (parked_streams.request_release); the leading runner serves
  them at a batch boundary: it replays the stream from the event store, from the parked
  version up to its checkpoint, in order (a skip first passes the parked event), and
  commits the rows with the release (or the new parking) in one compare-and-set on the
  unchanged checkpoint: a rival runner that moved it makes the commit write nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from domain.ports import RecordedEvent
from eventstore.bus import NotificationBus, projection_channel
from eventstore.messages import RESYNC, StreamParked
from projections.changes import BatchChanges, Upsert
from projections.checkpoints import ProjectionState
from projections.parked_streams import (
    ParkedStream,
    ParkingRequest,
    describe_error,
    parking_row,
    parking_upsert,
    read_parked,
    release_row,
)
from projections.poison import Poison, find_poison, is_transient
from projections.projector import PlanBatch, passed
from projections.read_models import ReadModelStore

log = logging.getLogger(__name__)

DEFAULT_RETRIES = 3
# How often a runner that is never quiet (a steady stream of appends) looks for requests
# anyway, in case the bus lost the one that should have woken it.
REQUEST_CHECK_SECONDS = 5.0


@runtime_checkable
class StreamReader(Protocol):
    """Where a retry reads a parked stream's events (the event store)."""

    async def replay_stream(self, stream_id: str) -> Sequence[RecordedEvent]:
        """The stream's events, oldest first; one this code cannot decode comes back unreadable."""
        ...


class StreamParking:
    """One runner's parked streams, its count of failures at one position, and the requests it serves."""

    def __init__(
        self,
        name: str,
        plan: PlanBatch,
        read_models: ReadModelStore,
        streams: StreamReader | None,
        bus: NotificationBus,
        *,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self._name = name
        self._plan = plan
        self._read_models = read_models
        self._streams = streams
        self._bus = bus
        self._retries = retries
        self._held: dict[str, int] = {}  # stream id -> the version it is parked at
        self._pending: dict[str, Poison] = {}  # parked by the batch being committed
        self._failing_at: int | None = None
        self._failures = 0
        self._checked_at = float("-inf")

    def bind(self, read_models: ReadModelStore) -> None:
        """Plan and commit on this store from now on: the runner's generation, bound anew after a switch."""
        self._read_models = read_models

    @property
    def held(self) -> dict[str, int]:
        """The streams this runner holds back, with the version each is parked at."""
        return dict(self._held)

    def admitted(self, events: Sequence[RecordedEvent]) -> Sequence[RecordedEvent]:
        """The batch without the events of parked streams (a new batch: forget an uncommitted parking)."""
        self._pending = {}
        if not self._held:
            return events
        return [recorded for recorded in events if recorded.stream_id not in self._held]

    async def isolate(self, from_position: int, events: Sequence[RecordedEvent], error: Exception) -> BatchChanges:
        """After the batch failed retries + 1 times: the batch's changes without its poison, and the parking rows.

        Re-raises `error` while retries remain, for a database error, and when no stream
        alone reproduces it (then the batch keeps failing and retrying, as before parking).
        """
        if is_transient(error):
            raise error
        if self._failing_at != from_position:
            self._failing_at, self._failures = from_position, 0
        self._failures += 1
        if self._failures <= self._retries:
            raise error
        poisons = await find_poison(self._plan, self._read_models, events)
        if not poisons:
            raise error
        kept = [recorded for recorded in events if not _held_back(recorded, poisons)]
        changes = await self._plan(self._read_models, kept)
        rows = [
            parking_row(self._name, poison.event, describe_error(poison.error), self._failures) for poison in poisons.values()
        ]
        self._pending = poisons
        return BatchChanges(upserts=(*changes.upserts, parking_upsert(rows)), streams=changes.streams)

    async def committed(self) -> None:
        """The batch committed: streams it parked are held from now on, and announced."""
        self._failing_at, self._failures = None, 0
        parked, self._pending = self._pending, {}
        for stream_id, poison in parked.items():
            event = poison.event
            self._held[stream_id] = event.version
            log.error(
                "projection %s parked stream %s at version %d (position %d, %s): %s",
                self._name,
                stream_id,
                event.version,
                event.position,
                event.type_name,
                describe_error(poison.error),
                extra={"projection": self._name, "stream_id": stream_id, "position": event.position},
            )
            notice = StreamParked(name=self._name, stream_id=stream_id, version=event.version, position=event.position)
            await self._bus.publish(projection_channel(self._name), notice)

    async def at_boundary(self, position: int, state: ProjectionState, *, reread: bool) -> None:
        """Between batches, at checkpoint `position`: reload the parked streams and serve requests when due.

        Due when the runner re-reads its checkpoint (a new term, a RESYNC such as a
        request's, a quiet poll) and at least every REQUEST_CHECK_SECONDS.
        """
        now = time.monotonic()
        if not reread and now - self._checked_at < REQUEST_CHECK_SECONDS:
            return
        self._checked_at = now
        async with self._read_models.reader.connect() as conn:
            parked = await read_parked(conn, self._name)
        self._held = {row.stream_id: row.version for row in parked}
        for row in parked:
            if row.request is not None and not await self._serve(row, position, state):
                return  # the checkpoint moved: another runner leads; the next batch finds out

    async def _serve(self, row: ParkedStream, position: int, state: ProjectionState) -> bool:
        if self._streams is None:
            log.warning("projection %s cannot serve a %s of %s: no event store", self._name, row.request, row.stream_id)
            return True
        recorded = [
            event
            for event in await self._streams.replay_stream(row.stream_id)
            if row.version <= event.version and event.position <= position
        ]
        if row.request is ParkingRequest.SKIP and recorded and recorded[0].version == row.version:
            recorded[0] = passed(recorded[0])
        poison = (await find_poison(self._plan, self._read_models, recorded)).get(row.stream_id)
        applied = recorded if poison is None else [event for event in recorded if event.version < poison.event.version]
        changes = await self._plan(self._read_models, applied)
        outcome = (
            release_row(row)
            if poison is None
            else parking_row(self._name, poison.event, describe_error(poison.error), row.attempts + 1)
        )
        upserts: tuple[Upsert, ...] = (*changes.upserts, parking_upsert([outcome]))
        if not await self._read_models.commit_batch(self._name, position, position, state, upserts):
            return False
        channel = projection_channel(self._name)
        if poison is None:
            del self._held[row.stream_id]
            log.warning(
                "projection %s released stream %s (%s from version %d)",
                self._name,
                row.stream_id,
                row.request,
                row.version,
                extra={"projection": self._name, "stream_id": row.stream_id},
            )
            # The stream's views moved without the checkpoint: everyone listening re-reads.
            await self._bus.publish(channel, RESYNC)
        else:
            event = poison.event
            self._held[row.stream_id] = event.version
            log.error(
                "projection %s: %s of stream %s failed again at version %d: %s",
                self._name,
                row.request,
                row.stream_id,
                event.version,
                describe_error(poison.error),
                extra={"projection": self._name, "stream_id": row.stream_id, "position": event.position},
            )
            notice = StreamParked(name=self._name, stream_id=row.stream_id, version=event.version, position=event.position)
            await self._bus.publish(channel, notice)
        return True


def _held_back(recorded: RecordedEvent, poisons: dict[str, Poison]) -> bool:
    poison = poisons.get(recorded.stream_id)
    return poison is not None and recorded.version >= poison.event.version
