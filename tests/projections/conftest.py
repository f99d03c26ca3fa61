"""Fixtures of the read-side tests.

`read_side_database` is a fast SQLite database built with create_all (no migration) for the
unit tier; integration tests use the shared `database` fixture (migrated, both backends).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from domain.command_bus import CommandBus
from eventstore.database import Database, create_database
from eventstore.local_bus import InProcessBus
from eventstore.sql_store import SqlEventStore
from eventstore.tables import metadata as event_store_metadata
from orderly.bootstrap import open_event_store
from projections.projector import Projector
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner
from projections.tables import metadata as read_model_metadata


@pytest.fixture
async def read_side_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh SQLite database with the event store and read-model tables."""
    database = create_database(f"sqlite:///{tmp_path / 'read_side.db'}")
    async with database.write_engine.begin() as conn:
        await conn.run_sync(event_store_metadata.create_all)
        await conn.run_sync(read_model_metadata.create_all)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def bus() -> InProcessBus:
    """The in-process bus the store and runners announce on."""
    return InProcessBus()


@pytest.fixture
def store(database: Database, bus: InProcessBus) -> SqlEventStore:
    """The SQL event store on the shared migrated `database` (both backends)."""
    return open_event_store(database, bus)


@pytest.fixture
def commands(store: SqlEventStore) -> CommandBus:
    """The real write path onto `store`."""
    return CommandBus(store)


RunnerFactory = Callable[..., ProjectionRunner]


@pytest.fixture
async def make_runner(database: Database, store: SqlEventStore, bus: InProcessBus) -> AsyncIterator[RunnerFactory]:
    """Builds runners on the test's database with fast timings; stops them all afterwards."""
    made: list[ProjectionRunner] = []

    def factory(name: str = "order_views", projector: Projector | None = None, **options: Any) -> ProjectionRunner:
        options = {"poll_interval": 0.05, "retry_base": 0.01, "retry_max": 0.05, **options}
        runner = ProjectionRunner(
            name,
            PROJECTIONS[name] if projector is None else projector,
            options.pop("database", database),
            options.pop("store", store),
            options.pop("bus", bus),
            **options,
        )
        made.append(runner)
        return runner

    try:
        yield factory
    finally:
        for runner in made:
            await runner.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0, interval: float = 0.01) -> None:
    """Wait until check() is true; fail after timeout seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
