"""The search index's pending-list cleaner: it runs in the background, and survives failures."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from eventstore.database import create_database
from projections.checkpoints import projection_checkpoints
from projections.generations import create_generation
from projections.order_views.search_index import PendingListCleaner
from projections.registry import PROJECTIONS
from tests.projections.conftest import eventually


async def test_it_cleans_repeatedly_and_stops(postgres_url: str) -> None:
    database = create_database(postgres_url)
    cleaner = PendingListCleaner(database, interval=0.02)
    try:
        await cleaner.start()
        await eventually(lambda: _at_least(cleaner, 3))
        await cleaner.stop()
        stopped_at = cleaner.cleanups
        await asyncio.sleep(0.1)
        assert cleaner.cleanups == stopped_at
    finally:
        await cleaner.stop()
        await database.dispose()


async def test_a_failing_cleanup_is_logged_once_and_retried(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    database = create_database(postgres_url)
    pool = await database.raw_pool()
    await pool.execute("DROP INDEX ix_order_views_search_cancelled")  # the last of three: every run now fails
    cleaner = PendingListCleaner(database, interval=0.02)
    try:
        with caplog.at_level(logging.WARNING, logger="projections.order_views.search_index"):
            await cleaner.start()
            await asyncio.sleep(0.2)
        warnings = [r for r in caplog.records if "pending list" in r.getMessage()]
        assert len(warnings) == 1 and cleaner.cleanups == 0
        assert cleaner.running
    finally:
        await cleaner.stop()
        await database.dispose()


async def _at_least(cleaner: PendingListCleaner, count: int) -> bool:
    return cleaner.cleanups >= count



async def test_it_cleans_the_live_generations_index(postgres_url: str) -> None:
    database = create_database(postgres_url)
    async with database.write_engine.begin() as conn:
        await create_generation(conn, PROJECTIONS["order_views"], 2)
        await conn.execute(
            projection_checkpoints.insert().values(
                name="order_views", position=0, state="RUNNING", updated_at=datetime.now(UTC), generation=2
            )
        )
    pool = await database.raw_pool()
    for status in ("created", "shipped", "cancelled"):  # generation 1's: no longer the live one
        await pool.execute(f"DROP INDEX ix_order_views_search_{status}")
    cleaner = PendingListCleaner(database, interval=0.02)
    try:
        await cleaner.start()
        await eventually(lambda: _at_least(cleaner, 2))
    finally:
        await cleaner.stop()
        await database.dispose()
