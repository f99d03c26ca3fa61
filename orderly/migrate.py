"""Bring a database to the latest schema: `alembic upgrade head` without an alembic.ini."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from eventstore.database import create_database

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Held for the whole migration transaction on PostgreSQL, so two processes migrating at
# once run one after the other (the second finds the schema at head). SQLite gets the
# same effect from the write engine's BEGIN IMMEDIATE.
MIGRATION_LOCK_KEY = 7_245_311_000


def alembic_config() -> Config:
    """An alembic Config pointing at orderly/migrations, built in code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (all migrations by default); safe to repeat."""
    database = create_database(url, pool_size=1, max_overflow=0)
    try:
        async with database.write_engine.begin() as connection:
            if database.is_postgres:
                await connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))
            await connection.run_sync(_upgrade, revision)
    finally:
        await database.dispose()
    log.info("database migrated", extra={"revision": revision})


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
