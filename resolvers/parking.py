"""Admin fields for parked streams: list them, and request a retry or a skip (the projector carries it out)."""

from __future__ import annotations

import strawberry

from projections.parked_streams import ParkingRequest
from resolvers.arguments import check_projection
from schema.context import Context, Services
from schema.errors import BadUserInputError
from schema.parked import ParkedStream

Info = strawberry.Info[Context, None]


async def parked_streams(info: Info, projection: str | None = None) -> list[ParkedStream]:
    """The streams parked now, by projection then position (of one projection when named)."""
    services = info.context.services
    if projection is not None:
        check_projection(projection, services.projection_names)
    return [ParkedStream.from_row(row) for row in await services.parking.parked(projection)]


async def retry_parked_stream(info: Info, stream_id: strawberry.ID, projection: str | None = None) -> list[ParkedStream]:
    """Ask the projector to replay the stream from its parked event, in order (once the cause is fixed)."""
    return await _request(info.context.services, str(stream_id), ParkingRequest.RETRY, projection)


async def skip_parked_event(info: Info, stream_id: strawberry.ID, projection: str | None = None) -> list[ParkedStream]:
    """Ask the projector to pass the stream's parked event without applying it, then replay the rest."""
    return await _request(info.context.services, str(stream_id), ParkingRequest.SKIP, projection)


async def _request(services: Services, stream_id: str, request: ParkingRequest, projection: str | None) -> list[ParkedStream]:
    if projection is not None:
        check_projection(projection, services.projection_names)
    rows = await services.parking.request(stream_id, request, projection)
    if not rows:
        where = "any projection" if projection is None else f"projection {projection}"
        raise BadUserInputError(f"stream {stream_id} is not parked in {where}")
    return [ParkedStream.from_row(row) for row in rows]
