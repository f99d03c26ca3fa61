"""PostgreSQL only: a projector's batch commit does not wait for the WAL flush unless asked to.

The batch statement relaxes synchronous_commit for its own transaction (projections/
postgres_read_models.py). These tests watch the setting a batch's transaction commits with
(a spy runs each statement of the raw pool in an explicit transaction and asks before
COMMIT), compare what the relaxed and the synchronous store write, and check that the
relaxation neither outlives the statement nor reaches the blue-green switch's transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from eventstore.database import Database, create_database
from eventstore.local_bus import InProcessBus
from orderly.bootstrap import build_container
from orderly.settings import Settings
from projections.changes import Upsert
from projections.checkpoints import ProjectionState, ensure_checkpoint, read_checkpoint
from projections.customer_summaries.projector import PROJECTOR as CUSTOMER_SUMMARIES
from projections.customer_summaries.tables import FACT_ROW, customer_order_facts
from projections.generations import generation_tables
from projections.postgres_read_models import PostgresReadModels
from projections.read_models import ReadModelStore

pytestmark = [pytest.mark.postgres]

NAME = "durability"


class CommitSpy:
    """A raw pool whose fetchval runs in an explicit transaction and notes synchronous_commit before COMMIT."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.settings: list[str] = []

    async def fetchval(self, statement: str, *arguments: Any, **options: Any) -> Any:
        async with self._pool.acquire() as connection, connection.transaction():
            value = await connection.fetchval(statement, *arguments, **options)
            self.settings.append(await connection.fetchval("SHOW synchronous_commit"))
        return value

    async def fetch(self, statement: str, *arguments: Any, **options: Any) -> Any:
        return await self._pool.fetch(statement, *arguments, **options)


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    """One raw connection: what a statement leaves on its session, the next one sees."""
    db = create_database(postgres_url, pool_size=1)
    try:
        yield db
    finally:
        await db.dispose()


async def spied(database: Database, monkeypatch: pytest.MonkeyPatch) -> CommitSpy:
    spy = CommitSpy(await database.raw_pool())

    async def raw_pool() -> CommitSpy:
        return spy

    monkeypatch.setattr(database, "raw_pool", raw_pool)
    return spy


def bound(database: Database, *, synchronous_commit: bool) -> ReadModelStore:
    store = PostgresReadModels(database, synchronous_commit=synchronous_commit)
    return store.for_generation(1, generation_tables(CUSTOMER_SUMMARIES, 1))


def facts(*order_ids: str, version: int = 1) -> list[Upsert]:
    rows = [
        {
            "order_id": order_id,
            "customer_id": "c-1",
            "status": "CREATED",
            "total_amount": "1.50",
            "total_minor": 15_000,
            "version": version,
        }
        for order_id in order_ids
    ]
    return [Upsert(table=customer_order_facts, rows=rows, key=("order_id",), newer="version")]


async def started(store: ReadModelStore, name: str = NAME) -> ReadModelStore:
    async with store.database.write_engine.begin() as conn:
        await ensure_checkpoint(store, conn, name)
    return store


async def test_a_batch_commits_without_waiting_for_the_flush_by_default(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await started(bound(database, synchronous_commit=False))
    spy = await spied(database, monkeypatch)

    assert await store.commit_batch(NAME, 0, 3, ProjectionState.RUNNING, facts("o-1"))
    assert not await store.commit_batch(NAME, 0, 5, ProjectionState.RUNNING, facts("o-2"))  # a lost compare-and-set

    assert spy.settings[0] == "off"
    assert [row["order_id"] for row in await store.rows_by_key(FACT_ROW, ["o-1", "o-2"])] == ["o-1"]


async def test_a_synchronous_store_waits_for_the_flush(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await started(bound(database, synchronous_commit=True))
    spy = await spied(database, monkeypatch)

    assert await store.commit_batch(NAME, 0, 3, ProjectionState.RUNNING, facts("o-1"))

    assert spy.settings == ["on"]


async def test_the_relaxed_and_the_synchronous_commit_write_the_same(database: Database) -> None:
    relaxed = await started(bound(database, synchronous_commit=False), "relaxed")
    synchronous = await started(bound(database, synchronous_commit=True), "synchronous")
    written = {}
    for name, store in (("relaxed", relaxed), ("synchronous", synchronous)):
        prefix = name[0]
        assert await store.commit_batch(name, 0, 4, ProjectionState.CATCHING_UP, facts(f"{prefix}-1", f"{prefix}-2"))
        assert await store.commit_batch(name, 4, 9, ProjectionState.RUNNING, facts(f"{prefix}-2", version=2))
        assert not await store.commit_batch(name, 4, 12, ProjectionState.RUNNING, facts(f"{prefix}-3"))
        rows = await store.rows_by_key(FACT_ROW, [f"{prefix}-1", f"{prefix}-2", f"{prefix}-3"])
        async with store.reader.connect() as conn:
            checkpoint = await read_checkpoint(conn, name)
        assert checkpoint is not None
        written[name] = (
            sorted((row["order_id"][2:], row["version"]) for row in rows),
            (checkpoint.position, checkpoint.state),
        )

    assert written["relaxed"] == written["synchronous"] == ([("1", 1), ("2", 2)], (9, ProjectionState.RUNNING))


async def test_the_relaxation_ends_with_the_batch(database: Database) -> None:
    store = await started(bound(database, synchronous_commit=False))

    assert await store.commit_batch(NAME, 0, 3, ProjectionState.RUNNING, facts("o-1"))

    pool = await database.raw_pool()  # one connection: the one the batch ran on
    assert await pool.fetchval("SHOW synchronous_commit") == "on"


async def test_the_switch_batch_stays_synchronous(database: Database) -> None:
    store = await started(bound(database, synchronous_commit=False))

    async with database.write_engine.connect() as conn, conn.begin():
        assert await store.write_batch(conn, NAME, 0, 3, ProjectionState.RUNNING, facts("o-1"))
        raw = await conn.get_raw_connection()
        setting = await raw.driver_connection.fetchval("SHOW synchronous_commit")  # type: ignore[union-attr]

    assert setting == "on"


@pytest.mark.parametrize(("value", "expected"), [(None, "off"), ("off", "off"), ("on", "on")])
async def test_the_composition_root_takes_the_setting(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str
) -> None:
    env = {"ORDERLY_DATABASE_URL": postgres_url}
    if value is not None:
        env["ORDERLY_PROJECTION_SYNCHRONOUS_COMMIT"] = value
    container = build_container(Settings.from_mapping(env), api=False, overrides={"bus": InProcessBus()})
    try:
        store = await started(container.read_models.for_generation(1, generation_tables(CUSTOMER_SUMMARIES, 1)))
        spy = await spied(container.database, monkeypatch)

        assert await store.commit_batch(NAME, 0, 3, ProjectionState.RUNNING, facts("o-1"))

        assert spy.settings == [expected]
    finally:
        await container.database.dispose()
