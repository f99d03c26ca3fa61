"""What the read side needs from its database, one implementation per backend.

PostgresReadModels (postgres_read_models.py) and SqliteReadModels (sqlite_read_models.py)
each spell every statement once; the composition root (orderly/bootstrap.open_read_models)
picks one. Nothing else in projections/ asks which backend it runs on.

The store the composition root makes reads the logical tables (views of the live generation,
projections/generations.py). A runner writes through a store bound to one generation
(`for_generation`): its statements name that generation's physical tables, and its batch
commits match the checkpoint's generation as well as its position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from eventstore.database import Database, ReadEngine
from projections.changes import Upsert
from projections.checkpoints import ProjectionState


@dataclass(frozen=True, eq=False)
class KeyedSelect:
    """Some columns of a read-model table, looked up by its text key column (made once, at import)."""

    table: Table
    columns: tuple[str, ...]
    key: str

    @classmethod
    def of(cls, table: Table, key: str, *, without: tuple[str, ...] = ()) -> KeyedSelect:
        """The table's columns except `without`, by `key`."""
        return cls(table, tuple(column.name for column in table.columns if column.name not in without), key)


class GenerationTables:
    """What a store bound to a generation knows: its number and each logical table's physical table.

    Both backends' stores start from it; unbound (generation None), a table is its logical self.
    """

    def __init__(self, generation: int | None, tables: Mapping[Table, Table] | None) -> None:
        self._generation = generation
        self._tables = dict(tables or {})

    @property
    def generation(self) -> int | None:
        """The generation this store is bound to; None for the logical tables."""
        return self._generation

    def _physical(self, table: Table) -> Table:
        return self._tables.get(table, table)


class KeyedRows(Protocol):
    """What a projector's plan reads: rows by key (a ReadModelStore is one)."""

    async def rows_by_key(self, query: KeyedSelect, values: Sequence[str]) -> list[Mapping[str, Any]]:
        """The rows whose key is one of values (duplicates in values are harmless), JSON columns decoded."""
        ...


class ReadModelStore(KeyedRows, Protocol):
    """The read models' statements on one backend."""

    @property
    def database(self) -> Database:
        """The database the read models live in (write transactions: database.write_engine)."""
        ...

    @property
    def generation(self) -> int | None:
        """The generation this store is bound to; None for the logical tables (the live views)."""
        ...

    def for_generation(self, generation: int, tables: Mapping[Table, Table]) -> ReadModelStore:
        """The same store with its statements on a generation's physical tables (logical table -> physical)."""
        ...

    @property
    def reader(self) -> ReadEngine:
        """Connections for reads that need no transaction (an unreachable database is ServiceUnavailableError)."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A read-only connection whose reads share one snapshot where the backend can give one."""
        ...

    async def row_by_key(self, query: KeyedSelect, value: str) -> Mapping[str, Any] | None:
        """The row whose key is value, JSON columns decoded; None when there is none."""
        ...

    async def insert_ignore(
        self, conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], *, key: Sequence[str]
    ) -> None:
        """Insert the rows whose key does not exist yet, inside the caller's transaction."""
        ...

    async def commit_batch(
        self, name: str, from_position: int, to_position: int, state: ProjectionState, upserts: Sequence[Upsert]
    ) -> bool:
        """Move the checkpoint from from_position to to_position and write the rows, atomically.

        False (and nothing written) when the checkpoint was not at from_position (or, for a
        bound store, not at its generation).
        """
        ...

    async def write_batch(
        self,
        conn: AsyncConnection,
        name: str,
        from_position: int,
        to_position: int,
        state: ProjectionState,
        upserts: Sequence[Upsert],
    ) -> bool:
        """commit_batch inside the caller's transaction (the blue-green switch's last batch)."""
        ...
