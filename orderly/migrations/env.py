"""Alembic environment: runs migrations on the connection orderly.migrate passes in, or on
a fresh async engine for ORDERLY_DATABASE_URL when run from the alembic command line."""

from __future__ import annotations

import asyncio
import importlib
import os

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from eventstore.database import create_database
from eventstore.tables import metadata as event_store_metadata

# The read-model tables are owned by the projections packages; their modules register
# tables on projections.tables.metadata when imported. Missing modules are skipped so
# the event store's migration works on its own.
_READ_MODEL_MODULES = (
    "projections.tables",
    "projections.checkpoints",
    "projections.order_views.tables",
    "projections.customer_summaries.tables",
    "projections.parked_streams",
)


def _target_metadata() -> list[MetaData]:
    found = [event_store_metadata]
    for name in _READ_MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is None or not name.startswith(error.name):
                raise
    from orderly.persisted_query_store import metadata as persisted_query_metadata

    found.append(persisted_query_metadata)
    try:
        from projections.tables import metadata as read_model_metadata
    except ImportError:
        return found
    return [*found, read_model_metadata]


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=_target_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_new_engine(url: str) -> None:
    database = create_database(url, pool_size=1, max_overflow=0)
    try:
        async with database.write_engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await database.dispose()


def _main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; run against a database")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("ORDERLY_DATABASE_URL")
    if not url:
        raise SystemExit("set ORDERLY_DATABASE_URL (or sqlalchemy.url) to the database to migrate")
    asyncio.run(_run_on_new_engine(url))


_main()
