"""Rebuilding a projection: clear its tables and replay the log from position 0."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import delete

from eventstore.bus import EVENTS_CHANNEL, NotificationBus, projection_channel
from eventstore.database import Database
from eventstore.messages import RESYNC
from projections.checkpoints import ProjectionState, reset_checkpoint
from projections.projector import Projector
from projections.registry import PROJECTIONS

log = logging.getLogger(__name__)


async def rebuild(
    database: Database,
    name: str,
    *,
    bus: NotificationBus | None = None,
    projections: Mapping[str, Projector] | None = None,
) -> None:
    """Clear the projection's tables and move its checkpoint to 0 (state REBUILDING)."""
    projector = (PROJECTIONS if projections is None else projections).get(name)
    if projector is None:
        raise KeyError(f"unknown projection {name!r}")
    async with database.write_engine.begin() as conn:
        # The checkpoint first, as a batch does: a running batch finishes before the reset.
        await reset_checkpoint(conn, name, ProjectionState.REBUILDING)
        for table in projector.tables:
            await conn.execute(delete(table))
    log.warning("projection %s reset to position 0 for a rebuild", name)
    if bus is not None:
        # Wake this process's runners (they re-read their checkpoints) and trackers.
        await bus.publish(EVENTS_CHANNEL, RESYNC)
        await bus.publish(projection_channel(name), RESYNC)
