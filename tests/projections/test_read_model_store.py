"""The read-model store contract, on the PostgreSQL and the SQLite implementation alike:
the batch commit's compare-and-set and version guard, insert-ignore, rows by key, snapshots."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from eventstore.database import Database
from orderly.bootstrap import open_read_models
from projections.changes import Upsert
from projections.checkpoints import ProjectionState, ensure_checkpoint, projection_checkpoints, read_checkpoint
from projections.customer_summaries.projector import PROJECTOR as CUSTOMER_SUMMARIES
from projections.customer_summaries.tables import FACT_ROW, customer_order_facts
from projections.generations import generation_tables
from projections.postgres_read_models import PostgresReadModels
from projections.read_models import ReadModelStore
from projections.sqlite_read_models import CHUNK_SIZE, SqliteReadModels

NAME = "contract"


@pytest.fixture
def read_models(database: Database) -> ReadModelStore:
    """The store bound to generation 1, as a runner writes (the logical names are read-only views)."""
    return open_read_models(database).for_generation(1, generation_tables(CUSTOMER_SUMMARIES, 1))


def fact(order_id: str, version: int, customer_id: str = "c-1") -> dict[str, object]:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "status": "CREATED",
        "total_amount": f"{version}.50",
        "total_minor": version * 10_000 + 5_000,
        "version": version,
    }


def facts(*rows: dict[str, object], newer: str | None = "version") -> Upsert:
    return Upsert(table=customer_order_facts, rows=rows, key=("order_id",), newer=newer)


async def started(read_models: ReadModelStore) -> ReadModelStore:
    async with read_models.database.write_engine.begin() as conn:
        await ensure_checkpoint(read_models, conn, NAME)
    return read_models


async def position(read_models: ReadModelStore) -> int:
    async with read_models.reader.connect() as conn:
        checkpoint = await read_checkpoint(conn, NAME)
    assert checkpoint is not None
    return checkpoint.position


def test_the_composition_root_picks_the_backends_store(database: Database, read_models: ReadModelStore) -> None:
    assert isinstance(read_models, PostgresReadModels if database.is_postgres else SqliteReadModels)


async def test_a_commit_moves_the_checkpoint_and_writes_the_rows(read_models: ReadModelStore) -> None:
    store = await started(read_models)

    assert await store.commit_batch(NAME, 0, 7, ProjectionState.CATCHING_UP, [facts(fact("o-1", 1), fact("o-2", 3))])

    rows = await store.rows_by_key(FACT_ROW, ["o-1", "o-2"])
    assert sorted((row["order_id"], row["version"], row["total_amount"]) for row in rows) == [
        ("o-1", 1, "1.50"),
        ("o-2", 3, "3.50"),
    ]
    async with store.reader.connect() as conn:
        checkpoint = await read_checkpoint(conn, NAME)
    assert checkpoint is not None
    assert (checkpoint.position, checkpoint.state, checkpoint.last_error) == (7, ProjectionState.CATCHING_UP, None)


async def test_a_commit_from_a_moved_checkpoint_writes_nothing(read_models: ReadModelStore) -> None:
    store = await started(read_models)
    assert await store.commit_batch(NAME, 0, 5, ProjectionState.RUNNING, [facts(fact("o-1", 1))])

    assert not await store.commit_batch(NAME, 0, 9, ProjectionState.RUNNING, [facts(fact("o-1", 2), fact("o-9", 1))])

    assert await position(store) == 5
    (row,) = await store.rows_by_key(FACT_ROW, ["o-1", "o-9"])
    assert (row["order_id"], row["version"]) == ("o-1", 1)


async def test_the_version_guard_never_moves_a_row_back_and_without_it_the_row_is_replaced(
    read_models: ReadModelStore,
) -> None:
    store = await started(read_models)
    assert await store.commit_batch(NAME, 0, 1, ProjectionState.RUNNING, [facts(fact("o-1", 3))])

    assert await store.commit_batch(NAME, 1, 2, ProjectionState.RUNNING, [facts(fact("o-1", 2, "older"))])
    row = await store.row_by_key(FACT_ROW, "o-1")
    assert row is not None and (row["version"], row["customer_id"]) == (3, "c-1")

    assert await store.commit_batch(NAME, 2, 3, ProjectionState.RUNNING, [facts(fact("o-1", 4, "newer"))])
    row = await store.row_by_key(FACT_ROW, "o-1")
    assert row is not None and (row["version"], row["customer_id"]) == (4, "newer")

    unguarded = facts(fact("o-1", 1, "replaced"), newer=None)
    assert await store.commit_batch(NAME, 3, 4, ProjectionState.RUNNING, [unguarded])
    row = await store.row_by_key(FACT_ROW, "o-1")
    assert row is not None and (row["version"], row["customer_id"]) == (1, "replaced")


async def test_insert_ignore_keeps_existing_rows_and_adds_the_others(read_models: ReadModelStore) -> None:
    store = await started(read_models)
    assert await store.commit_batch(NAME, 0, 12, ProjectionState.RUNNING, [facts(fact("o-1", 1))])

    async with store.database.write_engine.begin() as conn:
        await ensure_checkpoint(store, conn, NAME)  # an insert-ignore of position 0
        await store.insert_ignore(conn, customer_order_facts, [fact("o-1", 9, "ignored"), fact("o-2", 1)], key=("order_id",))

    assert await position(store) == 12
    rows = await store.rows_by_key(FACT_ROW, ["o-1", "o-2"])
    assert sorted((row["order_id"], row["version"], row["customer_id"]) for row in rows) == [
        ("o-1", 1, "c-1"),
        ("o-2", 1, "c-1"),
    ]
    async with store.reader.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(projection_checkpoints))
    assert count == 1


async def test_rows_by_key_take_duplicates_unknown_keys_and_more_than_a_chunk(read_models: ReadModelStore) -> None:
    store = await started(read_models)
    rows = [fact(f"o-{number}", 1) for number in range(CHUNK_SIZE + 50)]
    assert await store.commit_batch(NAME, 0, 1, ProjectionState.RUNNING, [facts(*rows)])

    wanted = [f"o-{number}" for number in range(CHUNK_SIZE + 50)] + ["o-0", "missing"]
    found = await store.rows_by_key(FACT_ROW, wanted)

    assert sorted(row["order_id"] for row in found) == sorted(f"o-{number}" for number in range(CHUNK_SIZE + 50))
    assert await store.rows_by_key(FACT_ROW, []) == []
    assert await store.row_by_key(FACT_ROW, "missing") is None
    assert set(found[0]) == set(FACT_ROW.columns)


async def test_a_snapshot_reads_and_the_reader_reads(read_models: ReadModelStore) -> None:
    store = await started(read_models)
    async with store.snapshot() as conn:
        assert await conn.scalar(select(projection_checkpoints.c.position).where(projection_checkpoints.c.name == NAME)) == 0
    async with store.reader.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(customer_order_facts)) == 0


@pytest.mark.postgres
async def test_the_postgres_snapshot_is_repeatable_read_and_read_only(postgres_url: str) -> None:
    from eventstore.database import create_database

    database = create_database(postgres_url)
    try:
        async with PostgresReadModels(database).snapshot() as conn:
            isolation = await conn.exec_driver_sql("SHOW transaction_isolation")
            read_only = await conn.exec_driver_sql("SHOW transaction_read_only")
            assert (isolation.scalar(), read_only.scalar()) == ("repeatable read", "on")
    finally:
        await database.dispose()
