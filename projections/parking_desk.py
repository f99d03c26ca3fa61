"""What operators do with parked streams (the CLI and the admin GraphQL fields): list them, request a retry or a skip.

A request is only recorded here; the leading runner carries it out at its next batch
boundary (parking.py), woken by a RESYNC on the events channel (or, should the bus lose
it, by its next look at the table).
"""

from __future__ import annotations

from eventstore.bus import EVENTS_CHANNEL, NotificationBus
from eventstore.messages import RESYNC
from projections.parked_streams import ParkedStream, ParkingRequest, read_parked, request_release
from projections.read_models import ReadModelStore


class ParkingDesk:
    """Parked streams, for operators."""

    def __init__(self, read_models: ReadModelStore, bus: NotificationBus | None) -> None:
        self._read_models = read_models
        self._bus = bus

    async def parked(self, projection: str | None = None, stream_id: str | None = None) -> list[ParkedStream]:
        """The streams parked now (of one projection, one stream)."""
        async with self._read_models.reader.connect() as conn:
            return await read_parked(conn, projection, stream_id)

    async def request(self, stream_id: str, request: ParkingRequest, projection: str | None = None) -> list[ParkedStream]:
        """Record the request on the stream's parked rows and wake the runners; the rows it reached (empty: none)."""
        async with self._read_models.database.write_engine.begin() as conn:
            reached = await request_release(conn, stream_id, request, projection)
        if reached and self._bus is not None:
            await self._bus.publish(EVENTS_CHANNEL, RESYNC)
        return [row for row in await self.parked(projection, stream_id) if row.projection in reached]
