"""Batch reads and writes for read models: rows by key, and INSERT ... ON CONFLICT upserts,
with the SQLite and PostgreSQL variants side by side."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Row, Select, Table, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from eventstore.database import Database, ReadEngine

# Keeps IN lists and multi-row statements well under both backends' bind-parameter limits.
CHUNK_SIZE = 900


def _insert(conn: AsyncConnection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {conn.dialect.name}")


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    newer: str | None = None,
) -> None:
    """Insert the rows, replacing every non-key column of rows whose key already exists
    (with `newer`, only where the new row's `newer` column is higher)."""
    if not rows:
        return
    statement = _insert(conn, table)
    columns = [column.name for column in table.columns if column.name not in key]
    statement = statement.on_conflict_do_update(
        index_elements=list(key),
        set_={name: statement.excluded[name] for name in columns},
        where=None if newer is None else table.c[newer] < statement.excluded[newer],
    )
    await conn.execute(statement, list(rows))


async def insert_ignore(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], *, key: Sequence[str]
) -> None:
    """Insert the rows whose key does not exist yet."""
    if not rows:
        return
    statement = _insert(conn, table).on_conflict_do_nothing(index_elements=list(key))
    await conn.execute(statement, list(rows))


async def rows_by_key(
    conn: AsyncConnection, query: Select[Any], key: Column[Any], values: Sequence[Any]
) -> AsyncIterator[Row[Any]]:
    """The rows of query whose key is one of values (duplicates in values are harmless)."""
    if not values:
        return
    if conn.dialect.name == "postgresql":
        # One array parameter: the statement text (and its prepared plan) is the same for
        # every batch, where an expanded IN list is rendered and planned anew each time.
        keys = bindparam("keys", list(values), type_=postgresql.ARRAY(key.type))
        for row in await conn.execute(query.where(key == any_(keys))):
            yield row
        return
    for chunk in chunked(values):
        for row in await conn.execute(query.where(key.in_(chunk))):
            yield row


def single_statement_reader(database: Database) -> ReadEngine:
    """The read engine for reads that need no transaction; on PostgreSQL in autocommit, which
    saves the BEGIN and ROLLBACK round trips (a chunked SQLite read is not one snapshot).
    An unreachable database is ServiceUnavailableError."""
    if database.is_postgres:
        return ReadEngine(database.engine.execution_options(isolation_level="AUTOCOMMIT"))
    return ReadEngine(database.engine)


def chunked(values: Sequence[Any], size: int = CHUNK_SIZE) -> Iterator[Sequence[Any]]:
    """The values in slices of at most size (for IN lists)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
