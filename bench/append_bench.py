"""Appends per second with concurrent writers on PostgreSQL: Orderly's ordered append
against plain unordered inserts of the same rows (and LOCK TABLE, for comparison).

    python bench/append_bench.py --url postgresql://postgres@127.0.0.1/test --writers 16 --seconds 5

Creates a database with a random name on the server of --url, drops it at the end.
Every variant writes one event per transaction (plus its commands row) to streams
owned by each writer, on its own copy of the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from domain.events import OrderShipped
from domain.ports import CommandStamp
from eventstore.codec import encode
from eventstore.database import create_database
from eventstore.postgres_store import PostgresEventStore
from orderly.migrate import migrate

Append = Callable[[str, int], Awaitable[None]]


@dataclass
class Outcome:
    """One variant's throughput and latency."""

    name: str
    appends: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        """Appends per second."""
        return self.appends / self.seconds


def event_row(stream_id: str) -> tuple[str, str, datetime]:
    """(event_id, data json, occurred_at) for one OrderShipped."""
    event = OrderShipped(order_id=stream_id, occurred_at=datetime.now(UTC))
    return str(uuid.uuid4()), orjson.dumps(encode(event)).decode(), event.occurred_at


async def run(name: str, append: Append, writers: int, seconds: float, warmup: float = 0.5) -> Outcome:
    """Run `writers` loops of `append` for warmup + seconds; count only the measured part."""
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    stop = start + seconds
    latencies: list[float] = []
    counted = 0

    async def writer(number: int) -> None:
        nonlocal counted
        stream_id, version = f"{name}-{number}-{uuid.uuid4().hex[:6]}", 0
        while (now := loop.time()) < stop:
            await append(stream_id, version)
            version += 1
            if now >= start:
                counted += 1
                latencies.append(loop.time() - now)

    await asyncio.gather(*(writer(number) for number in range(writers)))
    return Outcome(name, counted, seconds, latencies)


async def orderly_store(url: str, writers: int, seconds: float) -> Outcome:
    """(a) PostgresEventStore.append from 16 concurrent writers in one process, as the API does:
    ordered, and group-committed (appends that queue during a round trip share one call)."""
    database = create_database(url, pool_size=writers + 2, max_overflow=0)
    store = PostgresEventStore(database)

    async def append(stream_id: str, version: int) -> None:
        stamp = CommandStamp(command_id=uuid.uuid4().hex, command_type="Ship", fingerprint="f" * 64)
        event = OrderShipped(order_id=stream_id, occurred_at=datetime.now(UTC))
        await store.append(stream_id, "order", [event], expected_version=version, command=stamp)

    try:
        return await run("(a) Orderly PostgresEventStore", append, writers, seconds)
    finally:
        await database.dispose()


PLAIN_APPEND = """
WITH e AS (
    INSERT INTO {events} (event_id, stream_id, stream_type, version, type_name, schema_version,
                          data, occurred_at, command_id)
    VALUES ($1, $2, 'order', $3, 'order.shipped', 1, $4::jsonb, $5, $6)
    RETURNING position, version
)
INSERT INTO {commands} (command_id, command_type, fingerprint, stream_id, version, position)
SELECT $6, 'Ship', $7, $2, e.version, e.position FROM e
"""
FUNCTION_APPEND = """
WITH a AS (SELECT * FROM orderly_append($1, 'order', $2, $3, $4::jsonb))
INSERT INTO commands (command_id, command_type, fingerprint, stream_id, version, position)
SELECT $3, 'Ship', $5, $1, max(a.version), max(a.position) FROM a
"""


async def plain_inserts(pool: asyncpg.Pool, writers: int, seconds: float) -> Outcome:
    """(b) raw asyncpg, one autocommitted statement, no ordering: the baseline."""
    statement = PLAIN_APPEND.format(events="plain_events", commands="plain_commands")

    async def append(stream_id: str, version: int) -> None:
        event_id, data, occurred_at = event_row(stream_id)
        async with pool.acquire() as connection:
            await connection.execute(
                statement, event_id, stream_id, version + 1, data, occurred_at, uuid.uuid4().hex, "f" * 64
            )

    return await run("(b) plain asyncpg inserts", append, writers, seconds)


async def lock_table(pool: asyncpg.Pool, writers: int, seconds: float) -> Outcome:
    """(c) raw asyncpg, LOCK TABLE ... IN EXCLUSIVE MODE held until COMMIT."""
    statement = PLAIN_APPEND.format(events="locked_events", commands="locked_commands")

    async def append(stream_id: str, version: int) -> None:
        event_id, data, occurred_at = event_row(stream_id)
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute("LOCK TABLE locked_events IN EXCLUSIVE MODE")
            await connection.execute(
                statement, event_id, stream_id, version + 1, data, occurred_at, uuid.uuid4().hex, "f" * 64
            )

    return await run("(c) LOCK TABLE EXCLUSIVE", append, writers, seconds)


async def function_raw(pool: asyncpg.Pool, writers: int, seconds: float) -> Outcome:
    """(d) orderly_append through raw asyncpg: the technique's cost without SQLAlchemy."""

    async def append(stream_id: str, version: int) -> None:
        event_id, data, occurred_at = event_row(stream_id)
        document = orjson.dumps([{
            "event_id": event_id,
            "type_name": "order.shipped",
            "schema_version": 1,
            "data": orjson.Fragment(data),
            "occurred_at": occurred_at,
        }]).decode()
        async with pool.acquire() as connection:
            await connection.execute(FUNCTION_APPEND, stream_id, version, uuid.uuid4().hex, document, "f" * 64)

    return await run("(d) orderly_append via asyncpg", append, writers, seconds)


async def main(url: str, writers: int, seconds: float) -> None:
    """Create the database, run every variant, print the table, drop the database."""
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    name = f"orderly_bench_{uuid.uuid4().hex[:10]}"
    bench_url = url.rsplit("/", 1)[0] + "/" + name
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await migrate(bench_url)
        pool = await asyncpg.create_pool(bench_url.replace("+asyncpg", ""), min_size=writers, max_size=writers)
        try:
            for prefix in ("plain", "locked"):
                await pool.execute(f"CREATE TABLE {prefix}_events (LIKE events INCLUDING ALL)")
                await pool.execute(f"CREATE TABLE {prefix}_commands (LIKE commands INCLUDING ALL)")
            outcomes = [await plain_inserts(pool, writers, seconds)]
            outcomes.append(await orderly_store(bench_url, writers, seconds))
            outcomes.append(await function_raw(pool, writers, seconds))
            outcomes.append(await lock_table(pool, writers, seconds))
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    report(outcomes, writers, seconds)


def report(outcomes: list[Outcome], writers: int, seconds: float) -> None:
    """Print appends/s, ratio to the plain baseline and latency percentiles."""
    baseline = outcomes[0].rate
    print(f"{writers} writers, {seconds:g} s each, one event per transaction")
    print(f"{'variant':34} {'appends/s':>10} {'vs (b)':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for outcome in sorted(outcomes, key=lambda item: item.name):
        cuts = statistics.quantiles(outcome.latencies, n=100)
        print(
            f"{outcome.name:34} {outcome.rate:10.0f} {outcome.rate / baseline:6.2f}x"
            f" {cuts[49] * 1000:7.2f} {cuts[98] * 1000:7.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    arguments = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(main(arguments.url, arguments.writers, arguments.seconds))
    print(f"total {time.perf_counter() - started:.1f} s")
