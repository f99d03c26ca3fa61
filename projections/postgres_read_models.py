"""The read models on PostgreSQL: the hot statements on the raw asyncpg pool, one spelling each.

A batch commit is ONE statement in its own implicit transaction: the checkpoint UPDATE is
a data-modifying CTE and every upsert inserts only when that UPDATE matched (`WHERE
EXISTS (SELECT FROM advanced)`); rows travel as one JSON document per table
(`json_populate_recordset`). A live batch then costs one round trip to write instead of
BEGIN, UPDATE, INSERT..., COMMIT, which is most of the latency between an append and its
read model. Two runners racing on a projection: the UPDATE row-locks the checkpoint, so
the second blocks, then re-checks `position = from` against the committed row and matches
nothing.

Rows by key (the projectors' reads and the API's order and customer reads) take one array
parameter: the statement text, and its prepared plan, is the same for every batch, where
an expanded IN list is rendered and planned anew each time. JSON columns come as text for
orjson. Reads that need no transaction run in autocommit, saving BEGIN and ROLLBACK.

A store bound to a generation (for_generation) spells the same statements on that
generation's physical tables, and its checkpoint UPDATE also matches the generation: after
a blue-green switch the old generation's runner commits nothing and re-reads its checkpoint.

Durability of a batch commit (`synchronous_commit`, ORDERLY_PROJECTION_SYNCHRONOUS_COMMIT).
By default the batch statement sets `synchronous_commit = off` for its own transaction
(`set_config(..., true)` inside the statement, so it still costs one round trip): COMMIT
returns without waiting for the WAL flush. A live batch's commit is the one hop of
read-your-writes that waits for the disk: on the bench machine, with appends committing
beside it, a batch of three order_views rows took 4.6 ms p50 / 26 ms p99 waiting for its
flush and 1.6 / 11 ms without (scenario 5's per-hop timestamps put this commit at 5 ms p50,
14 ms p99 of a 16 ms p50 path from append to notification). The rows are visible to every other session as soon as COMMIT
returns, so the "projection advanced" notice still follows visibility. What it costs: a
crash of the PostgreSQL server (not of an Orderly process) can lose the last batches
committed before it, up to about three wal_writer_delay (600 ms by default). The checkpoint
rolls back with its rows (one transaction), the events are in the log (appends commit
synchronously, whatever this setting says), and the runner re-applies them when the server
is back; until it has, a client told "projected at N" just before the crash can read an
older version, and the API processes' trackers, seeing the checkpoint move back, resync
their waits. Set it on to make every batch wait for its flush. The blue-green switch's
last batch (write_batch, inside the switch's transaction) always commits synchronously.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

import orjson
from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from eventstore.database import Database, ReadEngine, unavailable_as_error
from projections.changes import Upsert
from projections.checkpoints import ProjectionState
from projections.pages import PageQuery, RowsPage
from projections.postgres_pages import read_page
from projections.read_models import GenerationTables, KeyedSelect, ReadModelStore

# OPT_NON_STR_KEYS: column names read back from SQLAlchemy are str subclasses.
# OPT_NAIVE_UTC: a naive timestamp means UTC here, as UtcDateTime reads it, never the
# server session's time zone.
_ROW_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC


class PostgresReadModels(GenerationTables):
    """ReadModelStore on PostgreSQL (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        *,
        reader: ReadEngine | None = None,
        generation: int | None = None,
        tables: Mapping[Table, Table] | None = None,
        synchronous_commit: bool = False,
    ) -> None:
        self._database = database
        self._reader = reader or ReadEngine(database.engine.execution_options(isolation_level="AUTOCOMMIT"))
        self._synchronous_commit = synchronous_commit
        super().__init__(generation, tables)

    def for_generation(self, generation: int, tables: Mapping[Table, Table]) -> ReadModelStore:
        """This store with its statements on the generation's physical tables."""
        return PostgresReadModels(
            self._database,
            reader=self._reader,
            generation=generation,
            tables=tables,
            synchronous_commit=self._synchronous_commit,
        )

    @property
    def database(self) -> Database:
        """The database the read models live in."""
        return self._database

    @property
    def reader(self) -> ReadEngine:
        """Autocommit connections for single-statement reads."""
        return self._reader

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A read-only REPEATABLE READ transaction: its reads share one snapshot."""
        with unavailable_as_error():
            async with self._database.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                async with conn.begin():
                    yield conn

    async def row_by_key(self, query: KeyedSelect, value: str) -> Mapping[str, Any] | None:
        """The row whose key is value, JSON columns decoded; None when there is none."""
        with unavailable_as_error():
            pool = await self._database.raw_pool()
            statement = _select(query, self._physical(query.table).name, many=False)
            record = await pool.fetchrow(statement, value, timeout=self._database.read_timeout)
        return None if record is None else _decoded(query, record)

    async def rows_by_key(self, query: KeyedSelect, values: Sequence[str]) -> list[Mapping[str, Any]]:
        """The rows whose key is one of values, JSON columns decoded."""
        if not values:
            return []
        with unavailable_as_error():
            pool = await self._database.raw_pool()
            statement = _select(query, self._physical(query.table).name, many=True)
            records = await pool.fetch(statement, list(values), timeout=self._database.read_timeout)
        return [_decoded(query, record) for record in records]

    async def insert_ignore(
        self, conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], *, key: Sequence[str]
    ) -> None:
        """INSERT ... ON CONFLICT DO NOTHING, inside the caller's transaction."""
        if rows:
            statement = postgresql.insert(self._physical(table)).on_conflict_do_nothing(index_elements=list(key))
            await conn.execute(statement, list(rows))

    async def commit_batch(
        self, name: str, from_position: int, to_position: int, state: ProjectionState, upserts: Sequence[Upsert]
    ) -> bool:
        """The checkpoint compare-and-set and every upsert in one statement; False when the checkpoint moved.

        Unless the store was made with synchronous_commit, COMMIT does not wait for the WAL flush
        (the module docstring says what that costs).
        """
        statement, arguments = self._batch(
            name, from_position, to_position, state, upserts, synchronous=self._synchronous_commit
        )
        pool = await self._database.raw_pool()
        return bool(await pool.fetchval(statement, *arguments))

    async def write_batch(
        self,
        conn: AsyncConnection,
        name: str,
        from_position: int,
        to_position: int,
        state: ProjectionState,
        upserts: Sequence[Upsert],
    ) -> bool:
        """The same statement on the caller's connection, inside its (begun) transaction, which it leaves synchronous."""
        statement, arguments = self._batch(name, from_position, to_position, state, upserts, synchronous=True)
        raw = await conn.get_raw_connection()
        driver = cast(Any, raw.driver_connection)
        return bool(await driver.fetchval(statement, *arguments))

    def _batch(
        self,
        name: str,
        from_position: int,
        to_position: int,
        state: ProjectionState,
        upserts: Sequence[Upsert],
        *,
        synchronous: bool,
    ) -> tuple[str, list[Any]]:
        shape = tuple((self._physical(change.table), change.key, change.newer) for change in upserts)
        documents = [orjson.dumps(change.rows, default=str, option=_ROW_OPTIONS).decode() for change in upserts]
        arguments = [name, from_position, to_position, state.value, datetime.now(UTC), self._generation, *documents]
        return _commit(shape, synchronous=synchronous), arguments

    async def read_page(self, query: PageQuery) -> RowsPage:
        """A page, its total and the checkpoint position in one statement (PageReads; postgres_pages.py)."""
        with unavailable_as_error():
            pool = await self._database.raw_pool()
            table = self._physical(query.table).name
            return await read_page(pool, table, query, timeout=self._database.read_timeout)


@cache
def _select(query: KeyedSelect, table: str, *, many: bool) -> str:
    listed = ", ".join(f'"{column}"' for column in query.columns)
    match = "ANY($1::text[])" if many else "$1"
    return f'SELECT {listed} FROM "{table}" WHERE "{query.key}" = {match}'


@cache
def _json_columns(query: KeyedSelect) -> tuple[str, ...]:
    return tuple(name for name in query.columns if isinstance(query.table.c[name].type, JSON))


def _decoded(query: KeyedSelect, record: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(record)
    for name in _json_columns(query):
        row[name] = orjson.loads(row[name])
    return row


@cache
def _commit(shape: tuple[tuple[Table, tuple[str, ...], str | None], ...], *, synchronous: bool) -> str:
    steps = [
        "advanced AS (UPDATE projection_checkpoints"
        " SET position = $3, state = $4, last_error = NULL, updated_at = $5"
        " WHERE name = $1 AND position = $2 AND ($6::int IS NULL OR generation = $6::int) RETURNING 1)"
    ]
    for index, (table, key, newer) in enumerate(shape):
        columns = [column.name for column in table.columns]
        listed = ", ".join(f'"{column}"' for column in columns)
        replaced = ", ".join(f'"{column}" = EXCLUDED."{column}"' for column in columns if column not in key)
        guard = f' WHERE "{table.name}"."{newer}" < EXCLUDED."{newer}"' if newer else ""
        steps.append(
            f'w{index} AS (INSERT INTO "{table.name}" ({listed})'
            f' SELECT {listed} FROM json_populate_recordset(NULL::"{table.name}", ${7 + index}::json)'
            " WHERE EXISTS (SELECT FROM advanced)"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {replaced}{guard})"
        )
    if synchronous:
        return "WITH " + ",\n".join(steps) + "\nSELECT count(*) FROM advanced"
    # set_config(..., true) lasts until the end of this statement's own transaction, COMMIT
    # included; the FROM item makes the final SELECT evaluate it (an unreferenced CTE would not be).
    relaxed = "(SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
    return "WITH " + ",\n".join(steps) + f"\nSELECT count(*) FROM advanced, {relaxed}"

