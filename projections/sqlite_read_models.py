"""The read models on SQLite: SQLAlchemy Core statements, a batch commit in one write transaction.

SQLite has one writer at a time; a batch's transaction begins IMMEDIATE (Database.write_engine),
so the checkpoint compare-and-set comes first and serialises concurrent runners before any
upsert. Rows by key go in IN lists of at most CHUNK_SIZE values (a long list of values is
not one snapshot on SQLite; nothing here needs it to be).

A store bound to a generation (for_generation) writes and reads that generation's physical
tables (SQLite views are read-only), and its checkpoint compare-and-set also matches the
generation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from eventstore.database import Database, ReadEngine, unavailable_as_error
from projections.changes import Upsert
from projections.checkpoints import ProjectionState, advance_checkpoint
from projections.read_models import GenerationTables, KeyedSelect, ReadModelStore

# Keeps IN lists and multi-row statements well under SQLite's bind-parameter limit.
CHUNK_SIZE = 900


class SqliteReadModels(GenerationTables):
    """ReadModelStore on SQLite (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        *,
        reader: ReadEngine | None = None,
        generation: int | None = None,
        tables: Mapping[Table, Table] | None = None,
    ) -> None:
        self._database = database
        self._reader = reader or ReadEngine(database.engine)
        super().__init__(generation, tables)

    def for_generation(self, generation: int, tables: Mapping[Table, Table]) -> ReadModelStore:
        """This store with its statements on the generation's physical tables."""
        return SqliteReadModels(self._database, reader=self._reader, generation=generation, tables=tables)

    @property
    def database(self) -> Database:
        """The database the read models live in."""
        return self._database

    @property
    def reader(self) -> ReadEngine:
        """Connections for single-statement reads."""
        return self._reader

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction: SQLite's reads inside one share a snapshot."""
        with unavailable_as_error():
            async with self._database.engine.connect() as conn, conn.begin():
                yield conn

    async def row_by_key(self, query: KeyedSelect, value: str) -> Mapping[str, Any] | None:
        """The row whose key is value; None when there is none."""
        async with self._reader.connect() as conn:
            row = (await conn.execute(_select_one(query, self._physical(query.table)), {"key": value})).first()
        return None if row is None else row._mapping

    async def rows_by_key(self, query: KeyedSelect, values: Sequence[str]) -> list[Mapping[str, Any]]:
        """The rows whose key is one of values, read in chunks of at most CHUNK_SIZE keys."""
        if not values:
            return []
        table = self._physical(query.table)
        statement, key = _select_many(query, table), table.c[query.key]
        rows: list[Mapping[str, Any]] = []
        async with self._reader.connect() as conn:
            # Distinct keys: a key repeated in two chunks would return its row twice.
            for chunk in chunked(list(dict.fromkeys(values))):
                rows.extend(row._mapping for row in await conn.execute(statement.where(key.in_(chunk))))
        return rows

    async def insert_ignore(
        self, conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], *, key: Sequence[str]
    ) -> None:
        """INSERT ... ON CONFLICT DO NOTHING, inside the caller's transaction."""
        if rows:
            statement = sqlite.insert(self._physical(table)).on_conflict_do_nothing(index_elements=list(key))
            await conn.execute(statement, list(rows))

    async def commit_batch(
        self, name: str, from_position: int, to_position: int, state: ProjectionState, upserts: Sequence[Upsert]
    ) -> bool:
        """The checkpoint compare-and-set, then the upserts, in one write transaction; False when it moved."""
        async with self._database.write_engine.begin() as conn:
            return await self.write_batch(conn, name, from_position, to_position, state, upserts)

    async def write_batch(
        self,
        conn: AsyncConnection,
        name: str,
        from_position: int,
        to_position: int,
        state: ProjectionState,
        upserts: Sequence[Upsert],
    ) -> bool:
        """The compare-and-set, then the upserts, inside the caller's write transaction."""
        if not await advance_checkpoint(conn, name, from_position, to_position, state, generation=self._generation):
            return False
        for change in upserts:
            if change.rows:
                statement = _upsert(self._physical(change.table), change.key, change.newer)
                await conn.execute(statement, list(change.rows))
        return True


@cache
def _select_many(query: KeyedSelect, table: Table) -> Select[Any]:
    return select(*(table.c[name] for name in query.columns))


@cache
def _select_one(query: KeyedSelect, table: Table) -> Select[Any]:
    return _select_many(query, table).where(table.c[query.key] == bindparam("key"))


@cache
def _upsert(table: Table, key: tuple[str, ...], newer: str | None) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE of every non-key column (with `newer`: only to a higher value)."""
    statement = sqlite.insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={column.name: statement.excluded[column.name] for column in table.columns if column.name not in key},
        where=None if newer is None else table.c[newer] < statement.excluded[newer],
    )


def chunked(values: Sequence[str], size: int = CHUNK_SIZE) -> Iterator[Sequence[str]]:
    """The values in slices of at most size (for IN lists)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
