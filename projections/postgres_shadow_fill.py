"""A blue-green shadow's batch commit on PostgreSQL: rows new to the shadow go in by binary COPY.

Nobody reads a shadow while it fills, and a rebuild from position 0 writes many of its rows
first in the batch that creates them (with 20,000-event batches, most of them). The live store's
one statement (postgres_read_models.py) sends every row as JSON, parses it back with
json_populate_recordset and runs ON CONFLICT for each; here a batch is one explicit transaction:

1. the checkpoint compare-and-set (the same UPDATE as the live statement); nothing else runs
   when it matches no row, so a rival (another rebuild, the switch) voids the batch as before;
2. per table, which of the batch's rows the shadow already has: known from the plan's own
   reads (rows_by_key remembers what it found and what it did not), asked with one SELECT for
   keys the plan did not read. Neither goes stale before COMMIT: every writer of this
   generation moves the checkpoint, so a row written since the read voids the compare-and-set,
   which then holds the checkpoint's row lock until COMMIT;
3. the new rows by `copy_records_to_table` (binary COPY), the existing ones by the live upsert
   (under its `newer` guard).

The checkpoint and the rows commit together: a kill -9 mid-fill leaves both as they were
before the batch, and a resumed run starts at the committed checkpoint. Tables keyed by more
than one column take the upsert for every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Table

from projections.changes import Upsert
from projections.checkpoints import ProjectionState
from projections.postgres_read_models import PostgresReadModels
from projections.read_models import KeyedSelect, ReadModelStore

_ADVANCE = (
    "UPDATE projection_checkpoints"
    " SET position = $3, state = $4, last_error = NULL, updated_at = $5"
    " WHERE name = $1 AND position = $2 AND ($6::int IS NULL OR generation = $6::int)"
)


def shadow_fill(read_models: ReadModelStore) -> ReadModelStore:
    """The store a shadow runner fills through: COPY for new rows on PostgreSQL, `read_models` elsewhere."""
    if isinstance(read_models, PostgresReadModels) and not isinstance(read_models, PostgresShadowFill):
        return PostgresShadowFill(read_models.database, reader=read_models.reader)
    return read_models


class PostgresShadowFill(PostgresReadModels):
    """PostgresReadModels whose batch commit copies new rows in (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What the batch's plan read, by (table, key column): key -> whether the row was there.
        # Valid until the next commit: a row that appeared since would have moved the checkpoint.
        self._seen: dict[tuple[str, str], dict[str, bool]] = {}

    async def rows_by_key(self, query: KeyedSelect, values: Sequence[str]) -> list[Mapping[str, Any]]:
        """The rows whose key is one of values; which of them exist is remembered for the commit."""
        rows = await super().rows_by_key(query, values)
        seen = self._seen.setdefault((self._physical(query.table).name, query.key), {})
        seen.update(dict.fromkeys(values, False))
        seen.update((row[query.key], True) for row in rows)
        return rows

    def for_generation(self, generation: int, tables: Mapping[Table, Table]) -> ReadModelStore:
        """This store on the generation's physical tables."""
        return PostgresShadowFill(self.database, reader=self.reader, generation=generation, tables=tables)

    async def commit_batch(
        self, name: str, from_position: int, to_position: int, state: ProjectionState, upserts: Sequence[Upsert]
    ) -> bool:
        """The checkpoint compare-and-set and every row in one transaction; False when the checkpoint moved."""
        seen, self._seen = self._seen, {}
        pool = await self.database.raw_pool()
        async with pool.acquire() as conn, conn.transaction():
            moved = await conn.execute(
                _ADVANCE, name, from_position, to_position, state.value, datetime.now(UTC), self.generation
            )
            if moved != "UPDATE 1":
                return False
            for change in upserts:
                if change.rows:
                    await self._write(conn, change, seen)
        return True

    async def _write(self, conn: Any, change: Upsert, seen: Mapping[tuple[str, str], Mapping[str, bool]]) -> None:
        table = self._physical(change.table)
        rows = change.rows
        if len(change.key) == 1:
            (key,) = change.key
            known = seen.get((table.name, key), {})
            present = {row[key] for row in rows if known.get(row[key])}
            unknown = [row[key] for row in rows if row[key] not in known]
            if unknown:  # rows the plan did not read: ask the shadow
                present.update(record[0] for record in await conn.fetch(_present(table.name, key), unknown))
            fresh = [row for row in rows if row[key] not in present]
            if fresh:
                columns, encoders = _layout(table)
                records = [
                    tuple(encode(row.get(column)) for column, encode in zip(columns, encoders, strict=True)) for row in fresh
                ]
                await conn.copy_records_to_table(table.name, records=records, columns=columns)
            rows = [row for row in rows if row[key] in present] if present else []
        if rows:
            document = orjson.dumps(rows, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC).decode()
            await conn.execute(_upsert(table, change.key, change.newer), document)


def _as_is(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


@cache
def _layout(table: Table) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    columns = tuple(column.name for column in table.columns)
    encoders = tuple(_json_text if isinstance(column.type, JSON) else _as_is for column in table.columns)
    return columns, encoders


@cache
def _present(table: str, key: str) -> str:
    return f'SELECT "{key}" FROM "{table}" WHERE "{key}" = ANY($1::text[])'


@cache
def _upsert(table: Table, key: tuple[str, ...], newer: str | None) -> str:
    columns = [column.name for column in table.columns]
    listed = ", ".join(f'"{column}"' for column in columns)
    replaced = ", ".join(f'"{column}" = EXCLUDED."{column}"' for column in columns if column not in key)
    guard = f' WHERE "{table.name}"."{newer}" < EXCLUDED."{newer}"' if newer else ""
    return (
        f'INSERT INTO "{table.name}" ({listed})'
        f' SELECT {listed} FROM json_populate_recordset(NULL::"{table.name}", $1::json)'
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {replaced}{guard}"
    )
