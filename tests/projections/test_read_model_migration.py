"""Migrations 0002 and 0003 create exactly the read-model tables the code declares: generation 1's
physical tables (`<table>__g1`, with the original index names) and a view per logical name."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection

from eventstore.database import Database, create_database
from orderly.migrate import alembic_config
from projections.checkpoints import projection_checkpoints
from projections.generations import create_generation, physical_table, point_views
from projections.order_views.tables import SEARCH_INDEXES
from projections.registry import PROJECTIONS
from projections.tables import metadata


def _generation_one() -> MetaData:
    declared = MetaData()
    projection_checkpoints.to_metadata(declared)
    for projector in PROJECTIONS.values():
        for table in projector.tables:
            physical_table(table, 1).to_metadata(declared)
    return declared


def _differences(connection: Connection) -> list[Any]:
    declared = _generation_one()
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            # only our tables: the event store's are its own business
            "include_name": lambda name, kind, _parent: kind != "table" or name in declared.tables,
        },
    )
    dialect = connection.dialect.name
    return [diff for diff in compare_metadata(context, declared) if _is_read_model(diff, dialect)]


_SEARCH_INDEXES = {str(index.name) for index in SEARCH_INDEXES.values()}


def _is_read_model(diff: Any, dialect: str) -> bool:
    operation = diff[0] if isinstance(diff, tuple) else diff[0][0]
    subject = diff[1] if isinstance(diff, tuple) else diff[0][3]
    if operation == "add_index" and dialect != "postgresql":
        return bool(subject.name not in _SEARCH_INDEXES)  # declared PostgreSQL-only (ddl_if)
    return True


async def test_migrated_schema_matches_the_table_definitions(database: Database) -> None:
    async with database.engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []


async def test_search_has_a_trigram_index_on_postgres(database: Database) -> None:
    async with database.engine.connect() as conn:
        indexes = await conn.run_sync(lambda sync: {ix["name"] for ix in inspect(sync).get_indexes("order_views__g1")})
        assert {
            "ix_order_views_customer_created",
            "ix_order_views_status",
            "ix_order_views_created_at",
            "ix_order_views_total_minor",
            "ix_order_views_item_count",
        } <= indexes
        if database.is_postgres:
            listed = text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'ix_order_views_search%'")
            definitions = dict((await conn.execute(listed)).all())
            assert set(definitions) == _SEARCH_INDEXES
            for status in ("CREATED", "SHIPPED", "CANCELLED"):
                definition = definitions[f"ix_order_views_search_{status.lower()}"]
                assert "gin (search_text gin_trgm_ops)" in definition and f"'{status}'" in definition


async def test_each_logical_name_is_a_view_with_the_declared_columns(database: Database) -> None:
    async with database.engine.connect() as conn:
        views = set(await conn.run_sync(lambda sync: inspect(sync).get_view_names()))
        tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        for projector in PROJECTIONS.values():
            for table in projector.tables:
                assert table.name in views and table.name not in tables
                assert f"{table.name}__g1" in tables
                shown = (await conn.execute(text(f'SELECT * FROM "{table.name}" LIMIT 0'))).keys()
                assert list(shown) == [column.name for column in metadata.tables[table.name].columns]


async def test_0003_downgrades_to_plain_tables_of_the_live_generation_and_upgrades_again(database: Database) -> None:
    async with database.write_engine.begin() as conn:
        await conn.execute(text("INSERT INTO customer_order_facts__g1 VALUES ('o-1', 'c-1', 'CREATED', '1', 100, 1)"))
        await conn.run_sync(lambda sync: _alembic(sync, "downgrade", "0002"))
    async with database.engine.connect() as conn:
        assert "customer_order_facts" in await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert await conn.scalar(text("SELECT count(*) FROM customer_order_facts")) == 1
    async with database.write_engine.begin() as conn:
        await conn.run_sync(lambda sync: _alembic(sync, "upgrade", "head"))
    async with database.engine.connect() as conn:
        assert "customer_order_facts" in await conn.run_sync(lambda sync: inspect(sync).get_view_names())
        assert await conn.scalar(text("SELECT count(*) FROM customer_order_facts")) == 1


def _alembic(connection: Connection, direction: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, direction)(config, revision)


async def test_views_keep_their_key_comment_on_postgres_when_replaced(database: Database) -> None:
    if not database.is_postgres:
        return  # SQLite has no comments (and no introspecting baseline)
    async with database.write_engine.begin() as conn:
        await point_views(conn, PROJECTIONS["order_views"], 1)  # as a switch replaces it
    async with database.engine.connect() as conn:
        comment = await conn.scalar(text("SELECT obj_description('order_views'::regclass, 'pg_class')"))
    assert comment == "@primaryKey order_id"


async def test_0007_replaces_the_search_index_of_every_generation_that_has_it(postgres_url: str) -> None:
    db = create_database(postgres_url)
    try:
        async with db.write_engine.begin() as conn:
            await conn.run_sync(lambda sync: _alembic(sync, "downgrade", "0006"))
            await create_generation(conn, PROJECTIONS["order_views"], 2, indexes=False)  # a shadow: no indexes yet
            await create_generation(conn, PROJECTIONS["customer_summaries"], 2, indexes=False)
        assert await _search_indexes(db) == {"ix_order_views_search_trgm": "order_views__g1"}
        async with db.write_engine.begin() as conn:
            await conn.execute(
                text("CREATE INDEX ix_order_views_search_trgm__g2 ON order_views__g2 USING gin (search_text gin_trgm_ops)")
            )
            await conn.run_sync(lambda sync: _alembic(sync, "upgrade", "0007"))
        assert await _search_indexes(db) == {
            "ix_order_views_status_search": "order_views__g1",
            "ix_order_views_status_search__g2": "order_views__g2",
        }
        async with db.write_engine.begin() as conn:
            await conn.run_sync(lambda sync: _alembic(sync, "downgrade", "0006"))
        assert await _search_indexes(db) == {
            "ix_order_views_search_trgm": "order_views__g1",
            "ix_order_views_search_trgm__g2": "order_views__g2",
        }
    finally:
        await db.dispose()


async def test_0008_splits_the_search_index_by_status_in_every_generation_that_has_it(postgres_url: str) -> None:
    db = create_database(postgres_url)
    try:
        async with db.write_engine.begin() as conn:
            await conn.run_sync(lambda sync: _alembic(sync, "downgrade", "0007"))
            await create_generation(conn, PROJECTIONS["order_views"], 2, indexes=False)
            await create_generation(conn, PROJECTIONS["customer_summaries"], 2, indexes=False)
            await create_generation(conn, PROJECTIONS["order_views"], 3, indexes=False)  # a shadow: no indexes yet
            await create_generation(conn, PROJECTIONS["customer_summaries"], 3, indexes=False)
            await conn.execute(
                text(
                    "CREATE INDEX ix_order_views_status_search__g2 ON order_views__g2"
                    " USING gin (status, search_text gin_trgm_ops)"
                )
            )
        assert await _search_indexes(db) == {
            "ix_order_views_status_search": "order_views__g1",
            "ix_order_views_status_search__g2": "order_views__g2",
        }
        async with db.write_engine.begin() as conn:
            await conn.run_sync(lambda sync: _alembic(sync, "upgrade", "head"))
        assert await _search_indexes(db) == {
            f"ix_order_views_search_{status}{suffix}": f"order_views__g{generation}"
            for generation, suffix in ((1, ""), (2, "__g2"))
            for status in ("created", "shipped", "cancelled")
        }
        async with db.engine.connect() as conn:
            definition = await conn.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_order_views_search_cancelled__g2'")
            )
        assert "gin (search_text gin_trgm_ops) WHERE ((status)::text = 'CANCELLED'::text)" in definition
        async with db.write_engine.begin() as conn:
            await conn.run_sync(lambda sync: _alembic(sync, "downgrade", "0007"))
        assert await _search_indexes(db) == {
            "ix_order_views_status_search": "order_views__g1",
            "ix_order_views_status_search__g2": "order_views__g2",
        }
    finally:
        await db.dispose()


async def _search_indexes(database: Database) -> dict[str, str]:
    """Each GIN index on an order_views generation, with its table."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT indexname, tablename FROM pg_indexes"
                " WHERE tablename LIKE 'order_views__g%' AND indexdef LIKE '%USING gin%'"
            )
        )
        return {row.indexname: row.tablename for row in rows}
