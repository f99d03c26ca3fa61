"""Engines, SQLite settings, "unreachable" classification and migrations."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from domain.errors import ServiceUnavailableError
from domain.ports import CommandStamp
from eventstore.database import create_database, is_unavailable, normalise_url
from eventstore.postgres_store import PostgresEventStore
from eventstore.sqlite_store import SqliteEventStore
from orderly.migrate import migrate
from tests.conftest import POSTGRES_ADMIN_URL
from tests.eventstore.test_store_contract import created


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
    ],
)
def test_plain_urls_get_the_async_drivers(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError):
        normalise_url("mysql://u@h/db")


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    database = create_database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async with database.engine.connect() as connection:
            settings = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            ]
        assert settings == ["wal", 5000, 1]
    finally:
        await database.dispose()


async def test_sqlite_writes_take_the_write_lock_at_begin_and_reads_do_not(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    database = create_database(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        async with database.write_engine.begin() as connection:
            await connection.execute(text("SELECT 1"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
        await database.dispose()


async def test_unreachable_postgres_is_service_unavailable() -> None:
    database = create_database("postgresql://postgres@127.0.0.1:1/nothing", pool_timeout=1)
    store = PostgresEventStore(database)
    try:
        with pytest.raises(ServiceUnavailableError) as caught:
            await store.head_position()
        assert is_unavailable(caught.value.__cause__)  # type: ignore[arg-type]
        stamp = CommandStamp(command_id="c", command_type="T", fingerprint="f")
        with pytest.raises(ServiceUnavailableError):
            await store.append("o", "order", [created("o", "1")], expected_version=0, command=stamp)
    finally:
        await database.dispose()


async def test_unopenable_sqlite_is_service_unavailable(tmp_path: Path) -> None:
    database = create_database(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    try:
        with pytest.raises(ServiceUnavailableError):
            await SqliteEventStore(database).read_stream("o")
    finally:
        await database.dispose()
        # aiosqlite stops the worker thread of a failed connect without awaiting it; let
        # it finish before this test's event loop closes.
        await asyncio.sleep(0.05)


def test_statement_errors_are_not_unavailability() -> None:
    integrity = exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: t.c"))
    missing_table = exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: t"))
    assert not is_unavailable(integrity)
    assert not is_unavailable(missing_table)
    assert not is_unavailable(ValueError("x"))
    assert is_unavailable(exc.OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked")))
    assert is_unavailable(exc.TimeoutError("QueuePool limit reached"))
    assert is_unavailable(ConnectionRefusedError())


async def test_migrate_twice_is_harmless(database_url: str) -> None:
    await migrate(database_url)
    await migrate(database_url)
    database = create_database(database_url)
    try:
        async with database.engine.connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert len(versions) == 1
    finally:
        await database.dispose()


async def test_concurrent_migrations_of_a_new_postgres_database(postgres_template: str) -> None:
    import asyncpg

    name = f"orderly_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        await asyncio.gather(migrate(url), migrate(url), migrate(url))
        database = create_database(url)
        try:
            async with database.engine.connect() as connection:
                found = await connection.execute(text("SELECT count(*) FROM pg_proc WHERE proname = 'orderly_append'"))
                assert found.scalar_one() == 1
        finally:
            await database.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
