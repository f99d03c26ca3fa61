"""The persisted-query table: GraphQL documents by the SHA-256 of their text, shared by every process.

A row comes from one of two sources: `apq` (a client sent the hash with the text under the
automatic persisted queries protocol, and the operation ran) or `operator` (`orderly persisted
add`). Allow-list mode honours only `operator` rows, so a deployment that ran in APQ mode
before cannot have its clients' documents slip into the allow-list. One adapter per backend,
differing only in the spelling of INSERT ... ON CONFLICT (habit 11).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, Text, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from eventstore.database import Database, unavailable_as_error
from eventstore.tables import UtcDateTime

metadata = MetaData()

HASH_LENGTH = 64  # lower-case hexadecimal SHA-256


class QuerySource(StrEnum):
    """Who stored a document."""

    APQ = "apq"  # a client, through the automatic persisted queries protocol
    OPERATOR = "operator"  # `orderly persisted add`: the allow-list


persisted_queries = Table(
    "persisted_queries",
    metadata,
    Column("sha256", String(HASH_LENGTH), nullable=False),
    Column("document", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("sha256", name="pk_persisted_queries"),
)


@dataclass(frozen=True, kw_only=True)
class StoredQuery:
    """One registered document."""

    sha256: str
    document: str
    source: QuerySource
    created_at: datetime


class PersistedQueryStore:
    """Reads and writes the table; the backends differ only in `_insert`."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def _insert(self) -> Insert:
        raise NotImplementedError

    async def get(self, sha256: str) -> StoredQuery | None:
        """The document stored under this hash, or None; ServiceUnavailableError when the database cannot answer."""
        with unavailable_as_error():
            async with self._database.engine.connect() as connection:
                statement = select(persisted_queries).where(persisted_queries.c.sha256 == sha256)
                row = (await connection.execute(statement)).first()
        return None if row is None else _stored(row)

    async def add_from_client(self, sha256: str, document: str, *, max_entries: int) -> bool:
        """Store an APQ document unless it is there already or the table holds `max_entries`
        client documents; True when this call stored it. (Two processes racing at the cap may
        pass it by a row each: the cap bounds growth, it is not an exact count.)"""
        client_rows = select(func.count()).select_from(persisted_queries).where(persisted_queries.c.source == QuerySource.APQ)
        values = select(
            literal(sha256, String), literal(document, Text), literal(QuerySource.APQ.value, String), literal(_now(), UtcDateTime)
        ).where(client_rows.scalar_subquery() < max_entries)
        statement = (
            self._insert()
            .from_select(["sha256", "document", "source", "created_at"], values)
            .on_conflict_do_nothing(index_elements=["sha256"])  # type: ignore[attr-defined]
        )
        async with self._database.write_engine.begin() as connection:
            result = await connection.execute(statement)
        return bool(result.rowcount)

    async def add_from_operator(self, sha256: str, document: str) -> bool:
        """Put a document on the allow-list (a client's copy of it becomes the operator's); True when new there."""
        insert = self._insert().values(sha256=sha256, document=document, source=QuerySource.OPERATOR.value, created_at=_now())
        statement = insert.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=["sha256"],
            set_={"source": QuerySource.OPERATOR.value},
            where=persisted_queries.c.source != QuerySource.OPERATOR.value,
        )
        async with self._database.write_engine.begin() as connection:
            result = await connection.execute(statement)
        return bool(result.rowcount)

    async def remove(self, sha256: str) -> bool:
        """Forget a document; True when there was one."""
        async with self._database.write_engine.begin() as connection:
            result = await connection.execute(delete(persisted_queries).where(persisted_queries.c.sha256 == sha256))
        return bool(result.rowcount)

    async def all(self, source: QuerySource | None = None) -> Sequence[StoredQuery]:
        """Every stored document (of one source), oldest first."""
        statement = select(persisted_queries).order_by(persisted_queries.c.created_at, persisted_queries.c.sha256)
        if source is not None:
            statement = statement.where(persisted_queries.c.source == source.value)
        async with self._database.engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return [_stored(row) for row in rows]


class PostgresPersistedQueryStore(PersistedQueryStore):
    """PostgreSQL's INSERT ... ON CONFLICT."""

    def _insert(self) -> Insert:
        return postgresql.insert(persisted_queries)


class SqlitePersistedQueryStore(PersistedQueryStore):
    """SQLite's INSERT ... ON CONFLICT."""

    def _insert(self) -> Insert:
        return sqlite.insert(persisted_queries)


def open_persisted_query_store(database: Database) -> PersistedQueryStore:
    """The store for the database's backend."""
    return PostgresPersistedQueryStore(database) if database.is_postgres else SqlitePersistedQueryStore(database)


def _stored(row: object) -> StoredQuery:
    mapping = row._mapping  # type: ignore[attr-defined]
    return StoredQuery(
        sha256=mapping["sha256"],
        document=mapping["document"],
        source=QuerySource(mapping["source"]),
        created_at=mapping["created_at"],
    )


def _now() -> datetime:
    return datetime.now(UTC)
