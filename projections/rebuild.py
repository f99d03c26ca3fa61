"""Rebuilding a projection in place (stop-the-world): clear its live tables and replay the log from 0.

The read model is empty, then partial, until its runner has replayed the whole log: readers
see that meanwhile (projections/blue_green.py rebuilds beside the live tables instead). The
door is `orderly rebuild NAME --in-place`, for development.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete

from eventstore.bus import EVENTS_CHANNEL, NotificationBus, projection_channel
from eventstore.messages import RESYNC
from projections.checkpoints import ProjectionState, read_checkpoint, reset_checkpoint
from projections.generations import generation_tables
from projections.parked_streams import parked_streams
from projections.read_models import ReadModelStore
from projections.registry import PROJECTIONS

log = logging.getLogger(__name__)


async def rebuild(read_models: ReadModelStore, name: str, *, bus: NotificationBus | None = None) -> None:
    """Clear the projection's live tables and move its checkpoint to 0 (state REBUILDING).

    Running runners replay the log: at once when the bus reaches them, otherwise at their
    next quiet poll (they re-read the checkpoint then). KeyError for an unknown name.
    """
    projector = PROJECTIONS.get(name)
    if projector is None:
        raise KeyError(f"unknown projection {name!r}")
    async with read_models.database.write_engine.begin() as conn:
        # The checkpoint first, as a batch does: a running batch finishes before the reset.
        await reset_checkpoint(read_models, conn, name, ProjectionState.REBUILDING)
        checkpoint = await read_checkpoint(conn, name)
        assert checkpoint is not None  # reset_checkpoint made it
        # The live generation's physical tables: the logical names are (read-only) views.
        for table in generation_tables(projector, checkpoint.generation).values():
            await conn.execute(delete(table))
        # The replay meets any poison event again and parks its stream again.
        await conn.execute(delete(parked_streams).where(parked_streams.c.projection == name))
    log.warning("projection %s reset to position 0 for a rebuild", name)
    if bus is not None:
        # Wake the runners (they re-read their checkpoints) and the trackers.
        await bus.publish(EVENTS_CHANNEL, RESYNC)
        await bus.publish(projection_channel(name), RESYNC)
