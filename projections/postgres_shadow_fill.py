"""A blue-green shadow's batch commit on PostgreSQL: rows new to the shadow go in by binary COPY.

Nobody reads a shadow while it fills, and a rebuild from position 0 writes many of its rows
first in the batch that creates them (with 20,000-event batches, most of them). The live store's
one statement (postgres_read_models.py) sends every row as JSON, parses it back with
json_populate_recordset and runs ON CONFLICT for each; here a batch is one explicit transaction:

1. the checkpoint compare-and-set (the same UPDATE as the live statement); nothing else runs
   when it matches no row, so a rival (another rebuild, the switch) voids the batch as before;
2. per table, which of the batch's rows the shadow already has: known from the plans' own
   reads (rows_by_key remembers what it found and what it did not) and from the rows this
   fill committed, asked with one SELECT for keys it does not know. What it knows does not go
   stale: every writer of this generation moves the checkpoint, so a row written by anyone
   else voids the next compare-and-set (which then holds the checkpoint's row lock until
   COMMIT), and a void or failed batch forgets everything. A plan made while the batch
   before it commits (runner.py) may read beside that commit: it asks only for keys that
   batch does not write (pending_rows.py answers those);
3. the new rows by `copy_records_to_table` (binary COPY), the existing ones by the live upsert
   (under its `newer` guard).

The checkpoint and the rows commit together: a kill -9 mid-fill leaves both as they were
before the batch, and a resumed run starts at the committed checkpoint. The batch commits
with `synchronous_commit = off` for its own transaction: a crash of the server can lose the
last batches, checkpoint and rows together, and the fill then repeats them. Tables keyed by more
than one column take the upsert for every row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Table

from projections.changes import Upsert
from projections.checkpoints import ProjectionState
from projections.postgres_read_models import PostgresReadModels
from projections.read_models import KeyedSelect, ReadModelStore

# Keys remembered per fill before it starts remembering afresh (about 100 bytes each).
MAX_KNOWN_KEYS = 2_000_000
_RELAXED = "SET LOCAL synchronous_commit = off"
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
        # By (table, key column): key -> whether the shadow has the row, from the plans' reads and
        # this fill's commits. Forgotten (a new epoch) when a batch is void or fails.
        self._known: dict[tuple[str, str], dict[str, bool]] = {}
        self._epoch = 0

    async def rows_by_key(self, query: KeyedSelect, values: Sequence[str]) -> list[Mapping[str, Any]]:
        """The rows whose key is one of values; which of them exist is remembered for the commits."""
        epoch = self._epoch
        rows = await super().rows_by_key(query, values)
        if epoch == self._epoch:  # not forgotten while this read ran: what it found still holds
            known = self._known.setdefault((self._physical(query.table).name, query.key), {})
            known.update(dict.fromkeys(values, False))
            known.update((row[query.key], True) for row in rows)
        return rows

    def for_generation(self, generation: int, tables: Mapping[Table, Table]) -> ReadModelStore:
        """This store on the generation's physical tables."""
        return PostgresShadowFill(self.database, reader=self.reader, generation=generation, tables=tables)

    async def commit_batch(
        self, name: str, from_position: int, to_position: int, state: ProjectionState, upserts: Sequence[Upsert]
    ) -> bool:
        """The checkpoint compare-and-set and every row in one transaction; False when the checkpoint moved."""
        pool = await self.database.raw_pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                moved = await conn.execute(
                    _ADVANCE, name, from_position, to_position, state.value, datetime.now(UTC), self.generation
                )
                if moved != "UPDATE 1":
                    self._forget()
                    return False
                await conn.execute(_RELAXED)
                for change in upserts:
                    if change.rows:
                        await self._write(conn, change, self._known)
        except BaseException:
            self._forget()
            raise
        self._committed(upserts)
        return True

    def _forget(self) -> None:
        self._known = {}
        self._epoch += 1

    def _committed(self, upserts: Sequence[Upsert]) -> None:
        if sum(map(len, self._known.values())) > MAX_KNOWN_KEYS:
            self._forget()  # bounded: what it forgets is asked again
        for change in upserts:
            if len(change.key) == 1 and change.rows:
                (key,) = change.key
                known = self._known.setdefault((self._physical(change.table).name, key), {})
                known.update(dict.fromkeys((row[key] for row in change.rows), True))

    async def _write(self, conn: Any, change: Upsert, known_by_table: Mapping[tuple[str, str], Mapping[str, bool]]) -> None:
        table = self._physical(change.table)
        rows = change.rows
        if len(change.key) == 1:
            (key,) = change.key
            known = known_by_table.get((table.name, key), {})
            present = {row[key] for row in rows if known.get(row[key])}
            unknown = [row[key] for row in rows if row[key] not in known]
            if unknown:  # rows neither a plan nor a commit of this fill saw: ask the shadow
                present.update(record[0] for record in await conn.fetch(_present(table.name, key), unknown))
            fresh = [row for row in rows if row[key] not in present]
            if fresh:
                columns, record = _layout(table)
                await conn.copy_records_to_table(table.name, records=list(map(record, fresh)), columns=columns)
            rows = [row for row in rows if row[key] in present] if present else []
        if rows:
            document = orjson.dumps(rows, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC).decode()
            await conn.execute(_upsert(table, change.key, change.newer), document)


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


@cache
def _layout(table: Table) -> tuple[tuple[str, ...], Callable[[Mapping[str, Any]], tuple[Any, ...]]]:
    """The table's columns, and a row's COPY record in their order (JSON columns as JSON text)."""
    columns = tuple(column.name for column in table.columns)
    encoded = [index for index, column in enumerate(table.columns) if isinstance(column.type, JSON)]

    def record(row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = [row.get(column) for column in columns]
        for index in encoded:
            values[index] = _json_text(values[index])
        return tuple(values)

    return columns, record


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
