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

from sqlalchemy import BigInteger, Column, Integer, PrimaryKeyConstraint, Row, String, Table, Text, select, update
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
    # The generation of tables this checkpoint's rows live in (projections/generations.py) and
    # the projector version that filled them; a blue-green rebuild's shadow row holds N+1.
    Column("generation", Integer, nullable=False, server_default="1"),
    Column("version", Integer, nullable=False, server_default="1"),
    # A rebuild's progress: when this run of it started, and from which position.
    Column("started_at", UtcDateTime, nullable=True),
    Column("start_position", BigInteger, nullable=True),
    PrimaryKeyConstraint("name", name="pk_projection_checkpoints"),
)

SHADOW_SUFFIX = "@next"


def shadow_name(name: str) -> str:
    """The checkpoint name of a projection's blue-green rebuild (its next generation)."""
    return name + SHADOW_SUFFIX


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """One projection's checkpoint row."""

    name: str
    position: int
    state: ProjectionState
    last_error: str | None
    updated_at: datetime
    generation: int = 1
    version: int = 1
    started_at: datetime | None = None
    start_position: int | None = None


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
        generation=mapping["generation"],
        version=mapping["version"],
        started_at=mapping["started_at"],
        start_position=mapping["start_position"],
    )


async def ensure_checkpoint(read_models: ReadModelStore, conn: AsyncConnection, name: str, *, version: int = 1) -> None:
    """Create the checkpoint at position 0 (generation 1, the projector's version) unless it exists."""
    row = {"name": name, "position": 0, "state": ProjectionState.STOPPED, "last_error": None, "updated_at": _now()}
    await read_models.insert_ignore(conn, projection_checkpoints, [{**row, "generation": 1, "version": version}], key=("name",))


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
    conn: AsyncConnection,
    name: str,
    from_position: int,
    to_position: int,
    state: ProjectionState,
    *,
    generation: int | None = None,
) -> bool:
    """Move the checkpoint from from_position to to_position; False when it was not at from_position
    (or, given a generation, when the checkpoint names another one: a switch happened).

    The UPDATE row-locks the checkpoint (SQLite: the write lock) until the transaction ends:
    a second runner blocks here, then finds the position moved and matches no row.
    """
    table = projection_checkpoints
    matches = [table.c.name == name, table.c.position == from_position]
    if generation is not None:
        matches.append(table.c.generation == generation)
    result = await conn.execute(
        update(table).where(*matches).values(position=to_position, state=state.value, last_error=None, updated_at=_now())
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
