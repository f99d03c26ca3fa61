"""The event store's tables: the global event log and the accepted commands.

On PostgreSQL migration 0001 also gives `events` a `tx_id xid8` column (the writing
transaction's id) and the `orderly_append` function; neither is part of this Core table,
because SQLite has no equivalent. Queries that need tx_id name it in PostgreSQL-only SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from domain.limits import MAX_ID_LENGTH

metadata = MetaData()

# Ids (stream, command) are domain.limits.MAX_ID_LENGTH; names (stream and event types) this long.
NAME_LENGTH = 100


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it as naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store UTC; a naive value is refused because its zone is unknown."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Read back an aware UTC datetime."""
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# INTEGER PRIMARY KEY AUTOINCREMENT on SQLite (never reuses a position), a bigint
# identity on PostgreSQL. The identity must keep CACHE 1 (the default): per-session
# sequence caches would hand out positions out of time order, and the ordering argument
# in eventstore/postgres_store.py relies on positions being taken in time order.
Position = BigInteger().with_variant(Integer, "sqlite")
Document = JSON().with_variant(JSONB(), "postgresql")

events = Table(
    "events",
    metadata,
    Column("position", Position, Identity(always=True, start=1), autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("stream_id", String(MAX_ID_LENGTH), nullable=False),
    Column("stream_type", String(NAME_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type_name", String(NAME_LENGTH), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("data", Document, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    Column("command_id", String(MAX_ID_LENGTH), nullable=True),
    PrimaryKeyConstraint("position", name="pk_events"),
    UniqueConstraint("event_id", name="uq_events_event_id"),
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
    sqlite_autoincrement=True,
)

commands = Table(
    "commands",
    metadata,
    Column("command_id", String(MAX_ID_LENGTH), nullable=False),
    Column("command_type", String(NAME_LENGTH), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("stream_id", String(MAX_ID_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    PrimaryKeyConstraint("command_id", name="pk_commands"),
)
