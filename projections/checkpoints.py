"""Projection checkpoints: how far each projection has applied the log, and in what state.

The runner advances a checkpoint with a compare-and-set in the same transaction as the
batch it covers, so a batch is applied at most once even when two runners race.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, Row, String, Table, Text, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from projections.tables import NAME_LENGTH, STATUS_LENGTH, UtcDateTime, metadata

if TYPE_CHECKING:
    from projections.read_models import ReadModelStore


class ProjectionState(StrEnum):
    """What a projection is doing; the contract's ProjectionState (schema/enums.py exposes this class)."""

    RUNNING = "RUNNING"
    CATCHING_UP = "CATCHING_UP"
    REBUILDING = "REBUILDING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


projection_checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("state", String(STATUS_LENGTH), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("name", name="pk_projection_checkpoints"),
)


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """One projection's checkpoint row."""

    name: str
    position: int
    state: ProjectionState
    last_error: str | None
    updated_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _checkpoint(row: Row[Any]) -> Checkpoint:
    mapping = row._mapping
    return Checkpoint(
        name=mapping["name"],
        position=mapping["position"],
        state=ProjectionState(mapping["state"]),
        last_error=mapping["last_error"],
        updated_at=mapping["updated_at"],
    )


async def ensure_checkpoint(read_models: ReadModelStore, conn: AsyncConnection, name: str) -> None:
    """Create the checkpoint at position 0 unless it exists."""
    await read_models.insert_ignore(
        conn,
        projection_checkpoints,
        [{"name": name, "position": 0, "state": ProjectionState.STOPPED, "last_error": None, "updated_at": _now()}],
        key=("name",),
    )


async def read_checkpoint(conn: AsyncConnection, name: str) -> Checkpoint | None:
    """The checkpoint of one projection, if it has one."""
    row = (await conn.execute(select(projection_checkpoints).where(projection_checkpoints.c.name == name))).first()
    return None if row is None else _checkpoint(row)


async def read_checkpoints(conn: AsyncConnection, names: Iterable[str]) -> dict[str, Checkpoint]:
    """The checkpoints of the named projections that have one."""
    query = select(projection_checkpoints).where(projection_checkpoints.c.name.in_(list(names)))
    return {checkpoint.name: checkpoint for checkpoint in map(_checkpoint, await conn.execute(query))}


async def checkpoint_position(conn: AsyncConnection, name: str) -> int:
    """The projection's position, 0 when it has never run."""
    position = await conn.scalar(select(projection_checkpoints.c.position).where(projection_checkpoints.c.name == name))
    return 0 if position is None else int(position)


async def advance_checkpoint(
    conn: AsyncConnection, name: str, from_position: int, to_position: int, state: ProjectionState
) -> bool:
    """Move the checkpoint from from_position to to_position; False when it was not at from_position.

    The UPDATE row-locks the checkpoint (SQLite: the write lock) until the transaction ends:
    a second runner blocks here, then finds the position moved and matches no row.
    """
    result = await conn.execute(
        update(projection_checkpoints)
        .where(projection_checkpoints.c.name == name, projection_checkpoints.c.position == from_position)
        .values(position=to_position, state=state.value, last_error=None, updated_at=_now())
    )
    return result.rowcount == 1


async def set_state(conn: AsyncConnection, name: str, state: ProjectionState, last_error: str | None = None) -> None:
    """Record the projection's state (and error, cleared unless given)."""
    await conn.execute(
        update(projection_checkpoints)
        .where(projection_checkpoints.c.name == name)
        .values(state=state.value, last_error=last_error, updated_at=_now())
    )


async def reset_checkpoint(read_models: ReadModelStore, conn: AsyncConnection, name: str, state: ProjectionState) -> None:
    """Move the checkpoint back to 0 (for a rebuild)."""
    await ensure_checkpoint(read_models, conn, name)
    await conn.execute(
        update(projection_checkpoints)
        .where(projection_checkpoints.c.name == name)
        .values(position=0, state=state.value, last_error=None, updated_at=_now())
    )
