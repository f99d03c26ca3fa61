"""The blue-green switch: the shadow generation becomes the live one in ONE write transaction.

In that transaction: lock the live checkpoint row (SELECT ... FOR UPDATE; SQLite's BEGIN
IMMEDIATE already holds the write lock), read its position P; if the shadow is behind P,
apply the missing events (shadow, P] to the shadow inside the transaction (the live runner
is blocked on the row meanwhile, so the gap cannot grow); then point the live row at the new
generation, with the shadow's version and position (>= P, so no client is ever shown a
position or a version older than one it saw), delete the shadow row and replace the views.
Any reader, in any process, reads the new generation from the commit on; the old
generation's runners find their next compare-and-set failing (it matches the generation
too), re-read the checkpoint and rebind.

The missing events are read and planned as one batch: the plan reads the shadow's rows on
another connection, which sees only what is committed, so it must not follow a write of
this same transaction. MAX_CATCH_UP bounds that batch: a shadow further behind is not
switched (nothing happens) and catches up outside the lock first. Nor is a shadow the log
cannot bring to P yet (its safe prefix stops at a gap that a running transaction may still
fill): it keeps the events it applied and is switched at a later try.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from projections.checkpoints import (
    Checkpoint,
    ProjectionState,
    projection_checkpoints,
    read_checkpoint,
    shadow_name,
)
from projections.generations import create_indexes, generation_tables, point_views
from projections.parked_streams import parked_streams
from projections.projector import EventLog, Projector
from projections.read_models import ReadModelStore
from projections.unreadable import refuse_unreadable

log = logging.getLogger(__name__)

MAX_CATCH_UP = 5_000


class RebuildError(Exception):
    """A blue-green rebuild cannot go on (its shadow vanished, or another rebuild moved it)."""


async def switch(
    read_models: ReadModelStore, events: EventLog, name: str, projector: Projector, *, max_catch_up: int = MAX_CATCH_UP
) -> Checkpoint | None:
    """Make the shadow generation live; the new live checkpoint, or None when the shadow is too far
    behind or the log cannot bring it to the live position yet."""
    shadow = shadow_name(name)
    async with read_models.database.write_engine.begin() as conn:
        live = await _lock(conn, name)
        upcoming = await read_checkpoint(conn, shadow)
        if live is None or upcoming is None or upcoming.generation != live.generation + 1:
            raise RebuildError(f"projection {name}: no rebuild under way to switch to")
        position = upcoming.position
        if live.position - position > max_catch_up:
            return None
        if position < live.position:
            position = await _apply_missing(conn, read_models, events, projector, upcoming, live.position)
        if position < live.position:
            # The log's safe prefix stopped short of P (a gap whose transaction still runs): going
            # live now would show older rows than the live generation. The shadow keeps what it
            # applied (this transaction commits it) and the caller tries again after catching up.
            return None
        # BlueGreenRebuild built them before it asked (outside this lock): here only checked, so no
        # generation goes live without its indexes, whoever calls the switch.
        await create_indexes(conn, projector, upcoming.generation)
        now = datetime.now(UTC)
        await conn.execute(
            update(projection_checkpoints)
            .where(projection_checkpoints.c.name == name)
            .values(
                generation=upcoming.generation,
                version=upcoming.version,
                position=position,
                state=ProjectionState.RUNNING.value,
                last_error=None,
                updated_at=now,
                started_at=None,
                start_position=None,
            )
        )
        await conn.execute(delete(projection_checkpoints).where(projection_checkpoints.c.name == shadow))
        await move_parked(conn, shadow, name)
        await point_views(conn, projector, upcoming.generation)
    log.warning(
        "projection %s switched to generation %d (version %d) at position %d",
        name,
        upcoming.generation,
        upcoming.version,
        position,
        extra={"projection": name, "position": position},
    )
    return Checkpoint(
        name=name,
        position=position,
        state=ProjectionState.RUNNING,
        last_error=None,
        updated_at=now,
        generation=upcoming.generation,
        version=upcoming.version,
    )


async def move_parked(conn: AsyncConnection, shadow: str, name: str) -> None:
    """The shadow's parked streams become the live projection's; the old generation's go with it.

    The new generation was folded from scratch: a stream it did not park (the cause was fixed)
    is no longer parked, and one it parked is parked at the place this generation met it.
    """
    await conn.execute(delete(parked_streams).where(parked_streams.c.projection == name))
    await conn.execute(update(parked_streams).where(parked_streams.c.projection == shadow).values(projection=name))


async def _lock(conn: AsyncConnection, name: str) -> Checkpoint | None:
    # FOR UPDATE on PostgreSQL; on SQLite the compiler drops it and BEGIN IMMEDIATE holds the write lock.
    row = (
        await conn.execute(select(projection_checkpoints.c.name).where(projection_checkpoints.c.name == name).with_for_update())
    ).first()
    return None if row is None else await read_checkpoint(conn, name)


async def _apply_missing(
    conn: AsyncConnection,
    read_models: ReadModelStore,
    events: EventLog,
    projector: Projector,
    upcoming: Checkpoint,
    live_position: int,
) -> int:
    """Apply (shadow, live] to the shadow inside the switch's transaction; the shadow's new position."""
    batch = [
        event
        for event in await events.read_log(after=upcoming.position, limit=live_position - upcoming.position)
        if event.position <= live_position
    ]
    if not batch:
        return upcoming.position
    bound = read_models.for_generation(upcoming.generation, generation_tables(projector, upcoming.generation))
    changes = await refuse_unreadable(projector.plan)(bound, batch)
    to_position = batch[-1].position
    if not await bound.write_batch(conn, upcoming.name, upcoming.position, to_position, ProjectionState.RUNNING, changes.upserts):
        raise RebuildError(f"projection {upcoming.name}: the shadow checkpoint moved during the switch")
    return to_position
