"""What the database knows about the read side, read at scrape time: the same answer in every process.

Per projection: its checkpoint, its state, how many events it is behind the head, and how
long the oldest of those has been waiting, and how many of its streams are parked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from eventstore.tables import events
from projections.checkpoints import ProjectionState
from projections.projector import EventLog
from projections.read_models import ReadModelStore
from projections.status import projection_statuses

log = logging.getLogger(__name__)

_OLDEST_AFTER = select(events.c.recorded_at).order_by(events.c.position).limit(1)


@dataclass(frozen=True, kw_only=True)
class ProjectionLag:
    """One projection against the head of the log."""

    name: str
    position: int
    state: ProjectionState
    lag_events: int
    lag_seconds: float  # the oldest unapplied event's age; 0 when caught up


@dataclass(frozen=True, kw_only=True)
class ReadSideTruth:
    """Everything the scrape reports from the database."""

    head: int
    projections: list[ProjectionLag]
    parked: Mapping[str, int]  # streams parked after a poison event, per projection


async def read_truth(read_models: ReadModelStore, store: EventLog, now: datetime) -> ReadSideTruth:
    """The read side as the database has it now."""
    statuses = await projection_statuses(read_models, store)
    head = max((status.head_position for status in statuses), default=0)
    lags = []
    async with read_models.reader.connect() as conn:
        for status in statuses:
            waited = 0.0
            if status.lag > 0:
                oldest = await _oldest_after(conn, status.position)
                waited = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
            lags.append(
                ProjectionLag(
                    name=status.name,
                    position=status.position,
                    state=status.state,
                    lag_events=status.lag,
                    lag_seconds=waited,
                )
            )
    parked = {status.name: status.parked_streams for status in statuses}
    return ReadSideTruth(head=head, projections=lags, parked=parked)


async def _oldest_after(conn: AsyncConnection, position: int) -> datetime | None:
    statement = _OLDEST_AFTER.where(events.c.position > position)
    value: datetime | None = (await conn.execute(statement)).scalar_one_or_none()
    return value
