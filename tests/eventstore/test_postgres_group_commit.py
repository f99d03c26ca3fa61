"""PostgreSQL only: appends that queue while a call is in flight travel as one batch, each with its own answer."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from domain.command_bus import CommandBus
from domain.errors import ConcurrencyConflictError, DuplicateCommandError, ServiceUnavailableError
from domain.events import OrderShipped
from domain.ports import AppendResult, CommandStamp
from eventstore.database import Database, create_database
from eventstore.postgres_store import PostgresEventStore
from tests.projections.builders import add_item, create_order, item


def stamp(command_id: str | None = None) -> CommandStamp:
    """A command stamp, with a fresh id unless one is given."""
    return CommandStamp(command_id=command_id or uuid.uuid4().hex, command_type="Test", fingerprint="f" * 64)


def events_for(stream_id: str, count: int = 1) -> list[OrderShipped]:
    """`count` small events for one append."""
    return [OrderShipped(order_id=stream_id, occurred_at=datetime.now(UTC)) for _ in range(count)]


class Gate:
    """A before_commit hook: the first batch waits inside its transaction until opened, so the next appends queue."""

    def __init__(self, on_second: Callable[[], Awaitable[None]] | None = None) -> None:
        self.calls = 0
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self._on_second = on_second

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await self.opened.wait()
        elif self.calls == 2 and self._on_second is not None:
            await self._on_second()


async def queued_behind_a_held_batch(
    store: PostgresEventStore, gate: Gate, appends: list[Callable[[], Coroutine[Any, Any, AppendResult]]]
) -> tuple[AppendResult, list[AppendResult | BaseException]]:
    """Hold one append inside its transaction, queue `appends` behind it, release: they travel as the next batch."""
    opener = uuid.uuid4().hex
    first = asyncio.create_task(store.append(opener, "order", events_for(opener), expected_version=0, command=stamp()))
    await gate.entered.wait()
    queued = [asyncio.create_task(append()) for append in appends]
    await asyncio.sleep(0.05)  # let every task reach the queue
    gate.opened.set()
    results = await asyncio.gather(*queued, return_exceptions=True)
    return await first, results


def batch_metric(suffix: str) -> float:
    """orderly_append_batch_commands' count (calls) or sum (commands) in this process."""
    return REGISTRY.get_sample_value(f"orderly_append_batch_commands_{suffix}") or 0.0


async def transactions_of(database: Database, stream_ids: list[str]) -> int:
    """How many transactions wrote the events of these streams."""
    async with database.engine.connect() as connection:
        count = await connection.execute(
            text("SELECT count(DISTINCT tx_id::text) FROM events WHERE stream_id = ANY(:streams)"),
            {"streams": stream_ids},
        )
        return int(count.scalar_one())


async def test_one_batch_gives_each_command_its_own_answer(postgres_url: str) -> None:
    database = create_database(postgres_url)
    gate = Gate()
    store = PostgresEventStore(database, before_commit=gate)
    x, y, z, w = (f"{name}-{uuid.uuid4().hex[:8]}" for name in "xyzw")
    stored_before = stamp()
    try:
        await PostgresEventStore(database).append(w, "order", events_for(w), expected_version=0, command=stored_before)
        shared_id = uuid.uuid4().hex
        calls_before, commands_before = batch_metric("count"), batch_metric("sum")
        _, results = await queued_behind_a_held_batch(store, gate, [
            lambda: store.append(x, "order", events_for(x, 2), expected_version=0, command=stamp()),  # appended 1..2
            lambda: store.append(x, "order", events_for(x), expected_version=0, command=stamp()),  # conflict: x is at 2
            lambda: store.append(x, "order", events_for(x), expected_version=2, command=stamp()),  # appended 3
            lambda: store.append(y, "order", events_for(y), expected_version=0, command=stamp(shared_id)),  # appended
            lambda: store.append(z, "order", events_for(z), expected_version=0, command=stamp(shared_id)),  # twin
            lambda: store.append(z, "order", events_for(z), expected_version=0, command=stored_before),  # stored twin
            lambda: store.append(w, "order", events_for(w), expected_version=1, command=stamp()),  # appended 2
        ])

        assert gate.calls == 2, "the queued appends should have travelled as one call"
        assert (batch_metric("count") - calls_before, batch_metric("sum") - commands_before) == (2, 8)
        assert [type(result).__name__ for result in results] == [
            "AppendResult", "ConcurrencyConflictError", "AppendResult", "AppendResult",
            "DuplicateCommandError", "DuplicateCommandError", "AppendResult",
        ]
        first_x, conflict, third_x, first_y, twin, stored_twin, second_w = results
        assert isinstance(conflict, ConcurrencyConflictError)
        assert (conflict.stream_id, conflict.expected, conflict.actual) == (x, 0, 2)
        assert isinstance(twin, DuplicateCommandError) and twin.command_id == shared_id
        assert isinstance(stored_twin, DuplicateCommandError) and stored_twin.command_id == stored_before.command_id
        assert isinstance(first_x, AppendResult) and isinstance(third_x, AppendResult)
        assert isinstance(first_y, AppendResult) and isinstance(second_w, AppendResult)
        assert (first_x.version, third_x.version, first_y.version, second_w.version) == (2, 3, 1, 2)
        positions = [first_x.position, third_x.position, first_y.position, second_w.position]
        assert positions == sorted(positions) and len(set(positions)) == 4, "positions follow the batch's order"
        assert [event.version for event in await store.read_stream(x)] == [1, 2, 3]
        assert await store.read_stream(z) == []
        record = await store.find_command(shared_id)
        assert record is not None and record.result == first_y
        assert await transactions_of(database, [x, y, w]) == 2  # w's first append came alone, before
    finally:
        gate.opened.set()
        await database.dispose()


async def test_concurrent_writers_keep_versions_gapless_and_commands_unique(postgres_url: str) -> None:
    """Many writers on a few shared streams, from two stores (two processes' worth of batches), with twins."""
    database = create_database(postgres_url, pool_size=8, max_overflow=0)
    stores = (PostgresEventStore(database), PostgresEventStore(database))
    streams = [f"s{number}-{uuid.uuid4().hex[:6]}" for number in range(5)]
    twins = [uuid.uuid4().hex for _ in range(10)]
    accepted: list[tuple[str, CommandStamp, AppendResult]] = []
    refused_twins: list[str] = []
    conflicts = 0

    async def writer(number: int) -> None:
        nonlocal conflicts
        store = stores[number % 2]
        for _ in range(25):
            stream_id = random.choice(streams)
            command = stamp(random.choice(twins)) if random.random() < 0.1 else stamp()
            version = len(await store.read_stream(stream_id))
            try:
                result = await store.append(
                    stream_id, "order", events_for(stream_id, random.choice((1, 1, 2))), expected_version=version,
                    command=command,
                )
            except ConcurrencyConflictError as conflict:
                assert conflict.actual is not None and conflict.actual > version
                conflicts += 1
            except DuplicateCommandError as duplicate:
                refused_twins.append(duplicate.command_id)
            else:
                accepted.append((stream_id, command, result))

    try:
        await asyncio.gather(*(writer(number) for number in range(24)))

        assert conflicts > 0 and accepted, "the writers should have raced"
        async with database.engine.connect() as connection:
            statement = text("SELECT stream_id, version, position, command_id FROM events ORDER BY position")
            rows = (await connection.execute(statement)).all()
        for stream_id in streams:
            versions = [row.version for row in rows if row.stream_id == stream_id]
            assert versions == list(range(1, len(versions) + 1)), f"{stream_id} has gaps or duplicates: {versions}"
        command_ids = [command.command_id for _, command, _ in accepted]
        assert len(command_ids) == len(set(command_ids)), "a command id was accepted twice"
        assert {twin for twin in refused_twins} <= set(command_ids)
        by_command: dict[str, list[Any]] = {}
        for row in rows:
            by_command.setdefault(row.command_id, []).append(row)
        for stream_id, command, result in accepted:
            written = by_command[command.command_id]
            assert {row.stream_id for row in written} == {stream_id}
            assert (written[-1].version, written[-1].position) == (result.version, result.position)
            record = await stores[0].find_command(command.command_id)
            assert record is not None and record.result == result
        assert len(by_command) == len(accepted), "events were written for a refused command"
    finally:
        await database.dispose()


async def test_a_database_failure_mid_batch_fails_exactly_that_batch_and_writes_none_of_it(
    postgres_url: str, plain_url: str
) -> None:
    """The batch's backend dies inside its statement (as under kill -9 of the server process
    or a lost connection): every command of that batch is SERVICE_UNAVAILABLE, none is written."""
    database = create_database(postgres_url)
    gate = Gate()
    store = PostgresEventStore(database, before_commit=gate)
    doomed = [f"doomed-{number}-{uuid.uuid4().hex[:6]}" for number in range(5)]
    admin = await asyncpg.connect(plain_url)
    holder = await asyncpg.connect(plain_url)
    transaction = holder.transaction()
    try:
        # The batch will wait inside orderly_append_batch for this stream lock (migration 0006's class).
        await transaction.start()
        await holder.execute("SELECT pg_advisory_xact_lock(72453, hashtext($1))", doomed[2])
        opener = uuid.uuid4().hex
        first = asyncio.create_task(store.append(opener, "order", events_for(opener), expected_version=0, command=stamp()))
        await gate.entered.wait()
        queued = [
            asyncio.create_task(store.append(stream_id, "order", events_for(stream_id), expected_version=0, command=stamp()))
            for stream_id in doomed
        ]
        await asyncio.sleep(0.05)
        gate.opened.set()
        assert (await first).version == 1, "the batch before the failure committed"
        for _ in range(500):
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%orderly_append_batch%'"
            )
            if killed:
                break
            await asyncio.sleep(0.01)
        assert killed == 1
        results = await asyncio.gather(*queued, return_exceptions=True)

        assert all(isinstance(result, ServiceUnavailableError) for result in results), results
        await transaction.rollback()
        assert [await store.read_stream(stream_id) for stream_id in doomed] == [[] for _ in doomed]
        retried = await store.append(doomed[0], "order", events_for(doomed[0]), expected_version=0, command=stamp())
        assert retried.version == 1, "the next batch goes through on a fresh connection"
    finally:
        gate.opened.set()
        await admin.close()
        await holder.close()
        await database.dispose()


async def test_a_command_the_table_refuses_fails_alone(postgres_url: str) -> None:
    database = create_database(postgres_url)
    gate = Gate()
    store = PostgresEventStore(database, before_commit=gate)
    good = [f"good-{number}-{uuid.uuid4().hex[:6]}" for number in range(3)]
    too_long = "x" * 500  # longer than the stream_id column
    try:
        _, results = await queued_behind_a_held_batch(store, gate, [
            lambda: store.append(good[0], "order", events_for(good[0]), expected_version=0, command=stamp()),
            lambda: store.append(too_long, "order", events_for(too_long), expected_version=0, command=stamp()),
            lambda: store.append(good[1], "order", events_for(good[1]), expected_version=0, command=stamp()),
            lambda: store.append(good[2], "order", events_for(good[2]), expected_version=0, command=stamp()),
        ])

        assert isinstance(results[1], Exception) and not isinstance(results[1], AppendResult)
        accepted = [results[0], results[2], results[3]]
        assert [result.version for result in accepted if isinstance(result, AppendResult)] == [1, 1, 1]
        assert [len(await store.read_stream(stream_id)) for stream_id in good] == [1, 1, 1]
    finally:
        gate.opened.set()
        await database.dispose()


async def test_commands_through_the_bus_keep_their_idempotency_and_conflicts_when_batched(postgres_url: str) -> None:
    """The handler's view: twins of a createOrder get the first one's result; racing addItems with
    the same expected version get one success and CONCURRENCY_CONFLICTs; all of it in shared batches."""
    database = create_database(postgres_url)
    store = PostgresEventStore(database)
    bus = CommandBus(store)
    try:
        order_id = str(uuid.uuid4())
        create = create_order(order_id, "customer-1")
        twins = await asyncio.gather(*(bus.dispatch(create) for _ in range(6)), return_exceptions=True)
        first = twins[0]
        assert isinstance(first, AppendResult), twins
        assert twins == [first] * 6 and (first.stream_id, first.version) == (order_id, 1)

        racing = [
            dataclasses.replace(add_item(order_id, item("sku-1")), expected_version=1) for _ in range(5)
        ]
        outcomes = await asyncio.gather(*(bus.dispatch(command) for command in racing), return_exceptions=True)

        assert sum(isinstance(outcome, AppendResult) for outcome in outcomes) == 1, outcomes
        assert sum(isinstance(outcome, ConcurrencyConflictError) for outcome in outcomes) == 4, outcomes
        assert [event.version for event in await store.read_stream(order_id)] == [1, 2]
    finally:
        await database.dispose()


async def test_batch_function_refuses_a_transaction_that_already_wrote(plain_url: str) -> None:
    connection = await asyncpg.connect(plain_url)
    try:
        async with connection.transaction():
            await connection.execute("INSERT INTO commands VALUES ('x', 't', 'f', 's', 1, 1, now())")
            with pytest.raises(asyncpg.PostgresError, match="first write of its transaction"):
                await connection.fetch("SELECT * FROM orderly_append_batch('[]'::jsonb)")
    finally:
        await connection.close()


@pytest.fixture
def plain_url(postgres_url: str) -> str:
    """The database's URL for asyncpg itself (no SQLAlchemy driver suffix)."""
    return postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)
