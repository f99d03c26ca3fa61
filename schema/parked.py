"""The admin view of a parked stream (projections/parked_streams.py)."""

from __future__ import annotations

import datetime

import strawberry

from projections.parked_streams import ParkedStream as ParkedStreamRow
from schema.enums import ParkingRequest
from schema.scalars import Position


@strawberry.type(
    description=(
        "A stream a projection holds back at an event it could not apply; its later events wait behind it. "
        "The projection goes on with every other stream."
    )
)
class ParkedStream:
    projection: str = strawberry.field(description="The projection (its checkpoint name) that parked the stream.")
    stream_id: strawberry.ID = strawberry.field(description="The stream (an order id).")
    version: int = strawberry.field(description="The stream version of the event the projection could not apply.")
    position: Position = strawberry.field(description="That event's global position.")
    event_type: str
    event_id: strawberry.ID
    error: str = strawberry.field(description="What the projector raised (it may quote internals: admins only).")
    attempts: int = strawberry.field(description="Failed attempts so far (the retries before parking, then each retry).")
    parked_at: datetime.datetime
    request: ParkingRequest | None = strawberry.field(
        description="A retry or skip asked for and not yet carried out by the projector."
    )
    requested_at: datetime.datetime | None

    @classmethod
    def from_row(cls, row: ParkedStreamRow) -> ParkedStream:
        """A parked-stream row."""
        return cls(
            projection=row.projection,
            stream_id=strawberry.ID(row.stream_id),
            version=row.version,
            position=Position(row.position),
            event_type=row.event_type,
            event_id=strawberry.ID(row.event_id),
            error=row.error,
            attempts=row.attempts,
            parked_at=row.parked_at,
            request=row.request,
            requested_at=row.requested_at,
        )
