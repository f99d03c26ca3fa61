"""Committing a projector's batch: the checkpoint compare-and-set and the row upserts, all or nothing.

On PostgreSQL the whole commit is ONE statement in its own implicit transaction: the
checkpoint UPDATE is a data-modifying CTE and every upsert inserts only when that UPDATE
matched (`WHERE EXISTS (SELECT FROM advanced)`); rows travel as one JSON document per
table (`json_populate_recordset`). A live batch then costs one round trip to write instead
of BEGIN, UPDATE, INSERT..., COMMIT, which is most of the latency between an append and
its read model. On SQLite the same steps run in one write transaction.

Two runners racing on a projection: the UPDATE row-locks the checkpoint, so the second
blocks, then re-checks `position = from` against the committed row and matches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from eventstore.database import Database
from projections.bulk import upsert
from projections.checkpoints import ProjectionState, advance_checkpoint


@dataclass(frozen=True, kw_only=True)
class Upsert:
    """Rows to insert or replace in one read-model table.

    With `newer`, an existing row is replaced only when the new row's `newer` column is
    higher (a stream version): a batch can never move a row back in time.
    """

    table: Table
    rows: Sequence[Mapping[str, Any]]
    key: tuple[str, ...]
    newer: str | None = None


@dataclass(frozen=True, kw_only=True)
class BatchChanges:
    """What a projector decided for one batch: the writes, and each touched stream's version."""

    upserts: tuple[Upsert, ...] = ()
    streams: dict[str, int] = field(default_factory=dict)


async def write_upserts(conn: AsyncConnection, upserts: Sequence[Upsert]) -> None:
    """Run the upserts on conn, inside the caller's transaction."""
    for change in upserts:
        await upsert(conn, change.table, change.rows, key=change.key, newer=change.newer)


async def commit_batch(
    database: Database,
    name: str,
    from_position: int,
    to_position: int,
    state: ProjectionState,
    upserts: Sequence[Upsert],
) -> bool:
    """Move the checkpoint from from_position to to_position and write the rows, atomically.

    False (and nothing written) when the checkpoint was not at from_position.
    """
    if not database.is_postgres:
        async with database.write_engine.begin() as conn:
            # The checkpoint row first: it serialises concurrent runners before any work.
            if not await advance_checkpoint(conn, name, from_position, to_position, state):
                return False
            await write_upserts(conn, upserts)
        return True
    shape = tuple((change.table, change.key, change.newer) for change in upserts)
    # OPT_NON_STR_KEYS: column names read back from SQLAlchemy are str subclasses.
    # OPT_NAIVE_UTC: a naive timestamp means UTC here, as UtcDateTime reads it, never the
    # server session's time zone.
    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC
    documents = [orjson.dumps(change.rows, default=str, option=options).decode() for change in upserts]
    pool = await database.raw_pool()
    advanced = await pool.fetchval(
        _statement(shape), name, from_position, to_position, state.value, datetime.now(UTC), *documents
    )
    return bool(advanced)


@cache
def _statement(shape: tuple[tuple[Table, tuple[str, ...], str | None], ...]) -> str:
    steps = [
        "advanced AS (UPDATE projection_checkpoints"
        " SET position = $3, state = $4, last_error = NULL, updated_at = $5"
        " WHERE name = $1 AND position = $2 RETURNING 1)"
    ]
    for index, (table, key, newer) in enumerate(shape):
        columns = [column.name for column in table.columns]
        listed = ", ".join(f'"{column}"' for column in columns)
        replaced = ", ".join(f'"{column}" = EXCLUDED."{column}"' for column in columns if column not in key)
        guard = f' WHERE "{table.name}"."{newer}" < EXCLUDED."{newer}"' if newer else ""
        steps.append(
            f'w{index} AS (INSERT INTO "{table.name}" ({listed})'
            f' SELECT {listed} FROM json_populate_recordset(NULL::"{table.name}", ${6 + index}::json)'
            " WHERE EXISTS (SELECT FROM advanced)"
            f' ON CONFLICT ({", ".join(key)}) DO UPDATE SET {replaced}{guard})'
        )
    return "WITH " + ",\n".join(steps) + "\nSELECT count(*) FROM advanced"
