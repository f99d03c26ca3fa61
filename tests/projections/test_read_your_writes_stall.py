"""PostgreSQL only: read-your-writes keeps up with steady writes while a transaction
elsewhere on the server stays open.

Scenario 5's stall: read_log used to return only events older than every transaction still
running on the whole server (`tx_id < pg_snapshot_xmin(...)`), so any transaction holding
an xid, in any database (another test suite's CREATE DATABASE ... TEMPLATE, an ANALYZE, a
batch job, the other projection's commit), hid every new event from the projectors for as
long as it ran, and every orderProjected waited with it. Here that transaction is held for
HOLD seconds in another database while orders are created at a steady rate on a loaded
database; no read-your-writes wait may take longer than BOUND (seconds, not milliseconds:
the machine is shared, and the mechanism, not the speed, is under test).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest

from bench.dataset import Dataset
from bench.loader import copy_events
from domain.command_bus import CommandBus
from eventstore.database import create_database
from eventstore.local_bus import InProcessBus
from eventstore.postgres_store import PostgresEventStore
from projections.consistency import wait_for_order_version
from projections.order_views.queries import OrderViewQueries
from projections.postgres_read_models import PostgresReadModels
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner
from projections.shared_log import SharedEventLog
from projections.tracker import ProjectionTracker
from tests.conftest import POSTGRES_ADMIN_URL
from tests.projections.builders import create_order, item
from tests.projections.conftest import eventually

pytestmark = [pytest.mark.postgres]

LOADED_ORDERS = 2_000  # 20,000 events, projected before the writes start
RATE = 40.0  # orders per second
WRITE_SECONDS = 6.0
HOLD_AFTER, HOLD = 1.0, 3.0  # the open transaction elsewhere: from 1 s into the writes, for 3 s
BOUND = 1.5  # seconds; before the fix the orders created during the hold waited up to HOLD


async def test_an_open_transaction_elsewhere_does_not_stall_read_your_writes(postgres_url: str) -> None:
    loader = await asyncpg.connect(postgres_url)
    try:
        await copy_events(loader, Dataset(orders=LOADED_ORDERS, events_per_order=10).log())
    finally:
        await loader.close()
    database = create_database(postgres_url)
    bus = InProcessBus()
    store = PostgresEventStore(database, bus)
    read_models = PostgresReadModels(database)
    shared = SharedEventLog(store)
    runners = [
        ProjectionRunner(name, projector, read_models, shared, bus, batch_size=5000, poll_interval=1.0)
        for name, projector in PROJECTIONS.items()
    ]
    tracker = ProjectionTracker(bus, read_models, PROJECTIONS, poll_interval=1.0)
    orders = OrderViewQueries(read_models)
    commands = CommandBus(store)
    try:
        await tracker.start()
        for runner in runners:
            await runner.start()
        head = await store.head_position()
        await eventually(lambda: _caught_up(runners, head), timeout=60)

        waits: list[float] = []

        async def write_and_wait(number: int) -> None:
            order_id = str(uuid.uuid4())
            await commands.dispatch(create_order(order_id, f"c-{number % 50}", item()))
            written = time.perf_counter()
            view = await wait_for_order_version(tracker, orders, order_id, 1, timeout=3 * HOLD)
            assert view is not None and view.version >= 1, f"order {number} never reached its read model"
            waits.append(time.perf_counter() - written)

        holding = asyncio.create_task(_hold_a_transaction_elsewhere())
        loop = asyncio.get_running_loop()
        started, tasks = loop.time(), []
        for number in range(int(RATE * WRITE_SECONDS)):
            await asyncio.sleep(max(0.0, started + number / RATE - loop.time()))
            tasks.append(asyncio.create_task(write_and_wait(number)))
        await asyncio.gather(*tasks)
        held = await holding

        assert held >= HOLD, "the other transaction did not stay open long enough to mean anything"
        slow = sorted(wait for wait in waits if wait > BOUND)
        assert not slow, (
            f"{len(slow)} of {len(waits)} read-your-writes waits took over {BOUND} s (worst {slow[-1]:.2f} s) "
            "while a transaction in another database was open"
        )
    finally:
        for runner in runners:
            await runner.stop()
        await tracker.stop()
        await database.dispose()


async def _hold_a_transaction_elsewhere() -> float:
    """Take an xid in another database of the same server, keep it HOLD seconds; how long it was held."""
    await asyncio.sleep(HOLD_AFTER)
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        async with connection.transaction():
            await connection.fetchval("SELECT pg_current_xact_id()")
            started = time.perf_counter()
            await asyncio.sleep(HOLD)
            return time.perf_counter() - started
    finally:
        await connection.close()


async def _caught_up(runners: list[ProjectionRunner], head: int) -> bool:
    return all(runner.position >= head for runner in runners)
