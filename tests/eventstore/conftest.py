"""The contract suite's store fixture: the same tests on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eventstore.database import create_database
from eventstore.local_bus import InProcessBus
from eventstore.memory_store import InMemoryEventStore
from eventstore.sql_store import SqlEventStore
from orderly.bootstrap import open_event_store
from tests.conftest import fresh_database_url

StoreUnderTest = InMemoryEventStore | SqlEventStore


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which event store implementation a contract test runs against."""
    return str(request.param)


@pytest.fixture
def store_template(store_kind: str, request: pytest.FixtureRequest) -> Path | str | None:
    """The migrated template for a SQL store (resolved outside the event loop)."""
    if store_kind == "memory":
        return None
    return request.getfixturevalue(f"{store_kind}_template")


@pytest.fixture
def bus() -> InProcessBus:
    """The in-process bus the store announces appends on."""
    return InProcessBus()


@pytest.fixture
async def store(
    store_kind: str, store_template: Path | str | None, tmp_path: Path, bus: InProcessBus
) -> AsyncIterator[StoreUnderTest]:
    """An empty event store of `store_kind`, publishing on `bus`."""
    if store_template is None:
        yield InMemoryEventStore(bus)
        return
    async with fresh_database_url(store_kind, store_template, tmp_path) as url:
        database = create_database(url)
        try:
            yield open_event_store(database, bus)
        finally:
            await database.dispose()
