"""Migration 0002 creates exactly the read-model tables the code declares."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from eventstore.database import Database
from projections.tables import metadata


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            # only our tables: the event store's are its own business
            "include_name": lambda name, kind, _parent: kind != "table" or name in metadata.tables,
        },
    )
    dialect = connection.dialect.name
    return [diff for diff in compare_metadata(context, metadata) if _is_read_model(diff, dialect)]


def _is_read_model(diff: Any, dialect: str) -> bool:
    operation = diff[0] if isinstance(diff, tuple) else diff[0][0]
    subject = diff[1] if isinstance(diff, tuple) else diff[0][3]
    if operation == "add_index" and dialect != "postgresql":
        return bool(subject.name != "ix_order_views_search_trgm")  # declared PostgreSQL-only (ddl_if)
    return True


async def test_migrated_schema_matches_the_table_definitions(database: Database) -> None:
    async with database.engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []


async def test_search_has_a_trigram_index_on_postgres(database: Database) -> None:
    async with database.engine.connect() as conn:
        indexes = await conn.run_sync(lambda sync: {ix["name"] for ix in inspect(sync).get_indexes("order_views")})
        assert {
            "ix_order_views_customer_created",
            "ix_order_views_status",
            "ix_order_views_created_at",
            "ix_order_views_total_minor",
            "ix_order_views_item_count",
        } <= indexes
        if database.is_postgres:
            definition = await conn.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_order_views_search_trgm'")
            )
            assert definition is not None and "gin_trgm_ops" in definition
