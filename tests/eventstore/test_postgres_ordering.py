"""PostgreSQL only: a tailing reader never misses an event, and the append function's guards."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import text

from domain.errors import ConcurrencyConflictError
from domain.events import OrderShipped
from domain.ports import AppendResult, CommandStamp
from eventstore import postgres_store
from eventstore.database import create_database
from eventstore.postgres_store import PostgresEventStore

WRITERS = 16
SECONDS = 4.0
ONE_EVENT = (
    '[{"event_id": "e1", "type_name": "order.shipped", "schema_version": 1,'
    ' "data": {"order_id": "s", "occurred_at": "2024-01-01T00:00:00+00:00"}, "occurred_at": "2024-01-01T00:00:00Z"}]'
)


def stamp() -> CommandStamp:
    """A command stamp with a fresh id."""
    return CommandStamp(command_id=uuid.uuid4().hex, command_type="Test", fingerprint="f" * 64)


def events_for(stream_id: str, count: int) -> list[OrderShipped]:
    """`count` small events for one append."""
    return [OrderShipped(order_id=stream_id, occurred_at=datetime.now(UTC)) for _ in range(count)]


async def lingering() -> None:
    """Test hook: sometimes stay in the append transaction a little before COMMIT, so
    transactions that took later positions often commit earlier."""
    if random.random() < 0.6:
        await asyncio.sleep(random.uniform(0, 0.004))


@pytest.fixture
def plain_url(postgres_url: str) -> str:
    """The database's URL for asyncpg itself (no SQLAlchemy driver suffix)."""
    return postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass
class Tailing:
    """What a tailing reader saw while the writers ran, and what was committed in the end."""

    seen: list[int]
    committed: list[int]
    results: list[AppendResult]

    def missed(self) -> list[int]:
        """Committed positions the reader never returned."""
        return sorted(set(self.committed) - set(self.seen))


async def tail_while_writing(postgres_url: str) -> Tailing:
    """Run WRITERS concurrent writers for SECONDS while a reader tails read_log."""
    database = create_database(postgres_url, pool_size=WRITERS + 4, max_overflow=0)
    # Half the writers linger before COMMIT (the same statement in an explicit transaction,
    # then the hook), half autocommit it.
    stores = (PostgresEventStore(database, before_commit=lingering), PostgresEventStore(database))
    results: list[AppendResult] = []
    done = asyncio.Event()

    async def writer(number: int) -> None:
        store = stores[number % 2]
        stream_id, version = f"w{number}-{uuid.uuid4().hex[:6]}", 0
        deadline = asyncio.get_running_loop().time() + SECONDS
        while asyncio.get_running_loop().time() < deadline:
            count = random.choice((1, 1, 1, 2, 3))
            result = await store.append(
                stream_id, "order", events_for(stream_id, count), expected_version=version, command=stamp()
            )
            results.append(result)
            version = result.version
            if random.random() < 0.1:
                stream_id, version = f"w{number}-{uuid.uuid4().hex[:6]}", 0

    async def reader() -> list[int]:
        seen: list[int] = []
        checkpoint = 0
        while True:
            writers_finished = done.is_set()
            batch = await stores[1].read_log(after=checkpoint, limit=random.randint(1, 40))
            seen.extend(event.position for event in batch)
            if batch:
                checkpoint = batch[-1].position
            elif writers_finished and checkpoint >= await stores[1].head_position():
                return seen
            else:
                # Also when finished: a transaction elsewhere on the server may still
                # hold the horizon back for a moment.
                await asyncio.sleep(0)

    try:
        tail = asyncio.create_task(reader())
        await asyncio.gather(*(writer(number) for number in range(WRITERS)))
        done.set()
        seen = await asyncio.wait_for(tail, timeout=10)
        async with database.engine.connect() as connection:
            committed = (await connection.execute(text("SELECT position FROM events ORDER BY position"))).scalars()
            return Tailing(seen=seen, committed=list(committed), results=results)
    finally:
        await database.dispose()


async def test_tailing_reader_sees_every_committed_event_once_in_order(postgres_url: str) -> None:
    tailing = await tail_while_writing(postgres_url)

    assert len(tailing.results) > 300, "the writers did too little to mean anything"
    assert any(result.version > 2 for result in tailing.results)
    assert len(tailing.seen) == len(set(tailing.seen)), "an event was delivered twice"
    assert tailing.seen == sorted(tailing.seen), "events were delivered out of position order"
    missed = tailing.missed()
    assert not missed, f"the reader missed {len(missed)} committed events, e.g. {missed[:10]}"
    assert tailing.seen == tailing.committed
    assert {result.position for result in tailing.results} <= set(tailing.seen)


@pytest.mark.parametrize("horizon", [True, False], ids=["with the horizon", "control: without it"])
async def test_a_later_position_committing_first_is_not_skipped(
    horizon: bool, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic: A takes the lower position but commits after B. A reader that trusts
    "position > checkpoint" alone (the control) passes B and never sees A."""
    if not horizon:
        monkeypatch.setattr(postgres_store, "safe_prefix", lambda records, after: records)
    database = create_database(postgres_url)
    release = asyncio.Event()
    holding = asyncio.Event()

    async def hold_before_commit() -> None:
        holding.set()
        await release.wait()

    slow, fast = PostgresEventStore(database, before_commit=hold_before_commit), PostgresEventStore(database)
    try:
        first = asyncio.create_task(slow.append("a", "order", events_for("a", 1), expected_version=0, command=stamp()))
        await holding.wait()
        second = await fast.append("b", "order", events_for("b", 1), expected_version=0, command=stamp())
        seen = [event.position for event in await fast.read_log(after=0, limit=10)]
        checkpoint = seen[-1] if seen else 0
        release.set()
        lower = await first
        assert lower.position < second.position
        for _ in range(200):
            batch = await fast.read_log(after=checkpoint, limit=10)
            seen.extend(event.position for event in batch)
            checkpoint = seen[-1] if seen else 0
            if checkpoint >= second.position:
                break
            await asyncio.sleep(0.01)
        missed = {lower.position, second.position} - set(seen)
        if horizon:
            assert seen == [lower.position, second.position]
        else:
            assert missed == {lower.position}, "the control should have skipped the lower position"
    finally:
        release.set()
        await database.dispose()


async def test_an_unrelated_open_transaction_does_not_hold_the_log_back(postgres_url: str, plain_url: str) -> None:
    """A transaction elsewhere on the server (here: an open one holding an xid; in the field
    a CREATE DATABASE, a vacuum's ANALYZE, the other projection's commit) used to hide every
    later event from read_log until it ended: read-your-writes stalled for as long."""
    database = create_database(postgres_url)
    store = PostgresEventStore(database)
    older = await asyncpg.connect(plain_url)
    try:
        transaction = older.transaction()
        await transaction.start()
        await older.fetchval("SELECT pg_current_xact_id()")
        first = await store.append("s1", "order", events_for("s1", 2), expected_version=0, command=stamp())
        second = await store.append("s2", "order", events_for("s2", 1), expected_version=0, command=stamp())

        returned = await store.read_log(after=0, limit=10)

        assert [event.position for event in returned] == [first.position - 1, first.position, second.position]
        await transaction.rollback()
    finally:
        await older.close()
        await database.dispose()


async def test_past_a_gap_an_open_transaction_holds_the_horizon_back(postgres_url: str, plain_url: str) -> None:
    """An append that rolled back leaves a gap that never fills; past it only the horizon
    says it is safe to go on, and an older transaction still running holds it back."""
    database = create_database(postgres_url)
    store = PostgresEventStore(database)
    older = await asyncpg.connect(plain_url)
    try:
        before = await store.append("s0", "order", events_for("s0", 1), expected_version=0, command=stamp())
        abandoned = older.transaction()
        await abandoned.start()
        rolled_back = await older.fetchval(
            "SELECT max(position) FROM orderly_append('gap', 'order', 0, 'c', $1::jsonb)", ONE_EVENT
        )
        await abandoned.rollback()
        transaction = older.transaction()
        await transaction.start()
        await older.fetchval("SELECT pg_current_xact_id()")
        result = await store.append("s1", "order", events_for("s1", 1), expected_version=0, command=stamp())
        assert result.position == rolled_back + 1 == before.position + 2

        assert [event.position for event in await store.read_log(after=0, limit=10)] == [before.position]

        await transaction.rollback()
        for _ in range(500):
            returned = await store.read_log(after=before.position, limit=10)
            if returned:
                break
            await asyncio.sleep(0.01)
        assert [event.position for event in returned] == [result.position]
    finally:
        await older.close()
        await database.dispose()


async def test_append_function_refuses_a_transaction_that_already_wrote(plain_url: str) -> None:
    connection = await asyncpg.connect(plain_url)
    try:
        async with connection.transaction():
            await connection.execute("INSERT INTO commands VALUES ('x', 't', 'f', 's', 1, 1, now())")
            with pytest.raises(asyncpg.PostgresError, match="first write of its transaction"):
                await connection.fetch("SELECT * FROM orderly_append('s', 'order', 0, 'c', $1::jsonb)", ONE_EVENT)
    finally:
        await connection.close()


async def test_append_lock_is_released_after_errors_and_cancellation(postgres_url: str, plain_url: str) -> None:
    database = create_database(postgres_url, pool_size=1, max_overflow=0)
    store = PostgresEventStore(database)
    blocker = await asyncpg.connect(plain_url)
    try:
        await store.append("s1", "order", events_for("s1", 1), expected_version=0, command=stamp())
        with pytest.raises(ConcurrencyConflictError):
            await store.append("s1", "order", events_for("s1", 1), expected_version=0, command=stamp())

        # Block the insert inside the function (it holds the global lock by then) and
        # give up on the client side: the server cancels the statement.
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE events IN SHARE MODE")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(
                    store.append("s2", "order", events_for("s2", 1), expected_version=0, command=stamp()), 0.3
                )
        await asyncio.sleep(0.1)
        assert await advisory_locks(blocker) == 0

        result = await asyncio.wait_for(
            store.append("s2", "order", events_for("s2", 1), expected_version=0, command=stamp()), 5
        )
        assert result.version == 1
    finally:
        await blocker.close()
        await database.dispose()


async def test_statement_timeout_inside_the_function_releases_the_lock(plain_url: str) -> None:
    blocker, writer = await asyncpg.connect(plain_url), await asyncpg.connect(plain_url)
    try:
        await writer.execute("SET statement_timeout = '200ms'")
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE events IN SHARE MODE")
            with pytest.raises(asyncpg.QueryCanceledError):
                await writer.fetch("SELECT * FROM orderly_append('s', 'order', 0, 'c', $1::jsonb)", ONE_EVENT)
            # query_canceled is not caught by WHEN OTHERS; the function names it.
            assert await advisory_locks(blocker, pid=writer.get_server_pid()) == 0
        rows = await writer.fetch("SELECT * FROM orderly_append('s', 'order', 0, 'c', $1::jsonb)", ONE_EVENT)
        assert [tuple(row) for row in rows] == [(rows[0]["position"], 1)]
    finally:
        await blocker.close()
        await writer.close()


async def advisory_locks(connection: asyncpg.Connection, pid: int | None = None) -> int:
    """Advisory locks held in this database (by one backend when pid is given)."""
    count = await connection.fetchval(
        "SELECT count(*) FROM pg_locks AS l JOIN pg_database AS d ON d.oid = l.database"
        " WHERE l.locktype = 'advisory' AND d.datname = current_database() AND ($1::int IS NULL OR l.pid = $1)",
        pid,
    )
    return int(count)
