"""Parked streams: a stream whose event a projection could not apply, held back for that projection only.

One row per (projection, stream): the event it stopped at, the error, how many attempts
failed. The runner writes the row in the commit that moves its checkpoint past the event
(as an Upsert), and releases it the same way (released_at set) once a retry or a skip has
replayed the stream; operators only record a REQUEST (request, requested_at), which the
leading runner carries out at a batch boundary. The projection column is the runner's
checkpoint name, so a shadow runner under another name parks on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.limits import MAX_ID_LENGTH
from domain.ports import RecordedEvent
from projections.changes import Upsert
from projections.tables import NAME_LENGTH, STATUS_LENGTH, UtcDateTime, metadata

ERROR_LENGTH = 2000


class ParkingRequest(StrEnum):
    """What an operator asked the runner to do with a parked stream."""

    RETRY = "RETRY"  # replay the stream from the parked event (after the cause is fixed)
    SKIP = "SKIP"  # pass the parked event without applying it, then replay the rest


parked_streams = Table(
    "parked_streams",
    metadata,
    Column("projection", String(NAME_LENGTH), nullable=False),
    Column("stream_id", String(MAX_ID_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("event_type", String(NAME_LENGTH), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("parked_at", UtcDateTime, nullable=False),
    Column("request", String(STATUS_LENGTH), nullable=True),
    Column("requested_at", UtcDateTime, nullable=True),
    Column("released_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("projection", "stream_id", name="pk_parked_streams"),
)


@dataclass(frozen=True, kw_only=True)
class ParkedStream:
    """One parked stream of one projection: the event it stopped at and why."""

    projection: str
    stream_id: str
    version: int
    position: int
    event_type: str
    event_id: str
    error: str
    attempts: int
    parked_at: datetime
    request: ParkingRequest | None
    requested_at: datetime | None


def _parked(row: Row[Any]) -> ParkedStream:
    values = row._mapping
    request = values["request"]
    return ParkedStream(
        projection=values["projection"],
        stream_id=values["stream_id"],
        version=values["version"],
        position=values["position"],
        event_type=values["event_type"],
        event_id=values["event_id"],
        error=values["error"],
        attempts=values["attempts"],
        parked_at=values["parked_at"],
        request=None if request is None else ParkingRequest(request),
        requested_at=values["requested_at"],
    )


_HELD = parked_streams.c.released_at.is_(None)


def describe_error(error: BaseException) -> str:
    """The error as the row records it (type and message, bounded)."""
    return f"{type(error).__name__}: {error}"[:ERROR_LENGTH]


def parking_row(projection: str, event: RecordedEvent, error: str, attempts: int) -> dict[str, Any]:
    """The row that parks event's stream at event (any earlier request is consumed)."""
    return {
        "projection": projection,
        "stream_id": event.stream_id,
        "version": event.version,
        "position": event.position,
        "event_type": event.type_name,
        "event_id": event.event_id,
        "error": error[:ERROR_LENGTH],
        "attempts": attempts,
        "parked_at": datetime.now(UTC),
        "request": None,
        "requested_at": None,
        "released_at": None,
    }


def release_row(parked: ParkedStream) -> dict[str, Any]:
    """The row that releases a parked stream (kept, with released_at, as the last record of it)."""
    return {
        "projection": parked.projection,
        "stream_id": parked.stream_id,
        "version": parked.version,
        "position": parked.position,
        "event_type": parked.event_type,
        "event_id": parked.event_id,
        "error": parked.error,
        "attempts": parked.attempts,
        "parked_at": parked.parked_at,
        "request": None,
        "requested_at": None,
        "released_at": datetime.now(UTC),
    }


def parking_upsert(rows: Sequence[dict[str, Any]]) -> Upsert:
    """The rows as an Upsert that commits with the batch (and its checkpoint)."""
    return Upsert(table=parked_streams, rows=rows, key=("projection", "stream_id"))


async def read_parked(conn: AsyncConnection, projection: str | None = None, stream_id: str | None = None) -> list[ParkedStream]:
    """The streams parked now (of one projection, one stream), by projection then parking position."""
    query = select(parked_streams).where(_HELD)
    if projection is not None:
        query = query.where(parked_streams.c.projection == projection)
    if stream_id is not None:
        query = query.where(parked_streams.c.stream_id == stream_id)
    rows = await conn.execute(query.order_by(parked_streams.c.projection, parked_streams.c.position))
    return [_parked(row) for row in rows]


async def parked_version(conn: AsyncConnection, projection: str, stream_id: str) -> int | None:
    """The version a stream is parked at in the projection, None when it is not parked."""
    version = await conn.scalar(
        select(parked_streams.c.version).where(
            parked_streams.c.projection == projection, parked_streams.c.stream_id == stream_id, _HELD
        )
    )
    return None if version is None else int(version)


async def read_parked_places(conn: AsyncConnection, projections: Sequence[str]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per projection (each of those named), its parked streams and where each is parked: (version, position)."""
    found: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in projections}
    columns = (parked_streams.c.projection, parked_streams.c.stream_id, parked_streams.c.version, parked_streams.c.position)
    query = select(*columns).where(_HELD, parked_streams.c.projection.in_(list(projections)))
    for projection, stream_id, version, position in await conn.execute(query):
        found[projection][stream_id] = (int(version), int(position))
    return found


async def count_parked(conn: AsyncConnection) -> dict[str, int]:
    """How many streams each projection holds parked (projections with none are absent)."""
    query = select(parked_streams.c.projection, func.count()).where(_HELD).group_by(parked_streams.c.projection)
    return {name: int(count) for name, count in await conn.execute(query)}


async def request_release(
    conn: AsyncConnection, stream_id: str, request: ParkingRequest, projection: str | None = None
) -> list[str]:
    """Record the request on the stream's parked rows (one projection, or every one); the projections it reached."""
    where = [parked_streams.c.stream_id == stream_id, _HELD]
    if projection is not None:
        where.append(parked_streams.c.projection == projection)
    result = await conn.execute(
        update(parked_streams)
        .where(*where)
        .values(request=request.value, requested_at=datetime.now(UTC))
        .returning(parked_streams.c.projection)
    )
    return sorted(str(name) for name in result.scalars())
