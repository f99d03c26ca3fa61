"""The fast loader: writes a Dataset's events straight into `events` with COPY, not
through the API, so a million events take seconds and the projectors can be timed alone."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg
import orjson

from bench.dataset import Dataset
from domain.events import Event
from eventstore.bus import EVENTS_CHANNEL
from eventstore.codec import encode

COLUMNS = (
    "event_id", "stream_id", "stream_type", "version", "type_name", "schema_version", "data", "occurred_at",
    "command_id",
)
CHUNK = 50_000


def record(stream_id: str, version: int, event: Event) -> tuple[Any, ...]:
    """One `events` row for COPY (position, tx_id and recorded_at come from the defaults)."""
    return (
        str(uuid.uuid4()),
        stream_id,
        "order",
        version,
        event.type_name,
        event.schema_version,
        orjson.dumps(encode(event)).decode(),
        event.occurred_at,
        None,
    )


async def copy_events(connection: asyncpg.Connection, rows: Iterable[tuple[str, int, Event]]) -> int:
    """COPY the rows into events in chunks, one transaction per chunk; returns how many.

    Chunks commit one after another, so transaction ids grow with positions, as the
    tail-safe read (eventstore/postgres_store.py) expects.
    """
    count = 0
    chunk: list[tuple[Any, ...]] = []
    for stream_id, version, event in rows:
        chunk.append(record(stream_id, version, event))
        if len(chunk) >= CHUNK:
            await connection.copy_records_to_table("events", records=chunk, columns=COLUMNS)
            count += len(chunk)
            chunk = []
    if chunk:
        await connection.copy_records_to_table("events", records=chunk, columns=COLUMNS)
        count += len(chunk)
    return count


async def load(url: str, dataset: Dataset) -> dict[str, float]:
    """Load the dataset's whole log into the database at url; returns counts and timings."""
    started = time.perf_counter()
    connection = await asyncpg.connect(url)
    try:
        count = await copy_events(connection, dataset.log())
        await connection.execute("ANALYZE events")
        head = await connection.fetchval("SELECT coalesce(max(position), 0) FROM events")
    finally:
        await connection.close()
    seconds = time.perf_counter() - started
    return {"events": count, "head": int(head), "seconds": seconds, "events_per_s": count / seconds}


async def ring(redis_url: str, namespace: str, position: int) -> None:
    """Publish the "events appended" doorbell, as an append through the store would."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        notice = {"stream_id": "", "version": 0, "first_position": position, "position": position}
        await client.publish(f"{namespace}:{EVENTS_CHANNEL}", orjson.dumps(notice))
    finally:
        await client.aclose()
