"""The search index's pending-list cleaner: it runs in the background, and survives failures."""

from __future__ import annotations

import asyncio
import logging

import pytest

from eventstore.database import create_database
from projections.order_views.search_index import PendingListCleaner
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
    await pool.execute("DROP INDEX ix_order_views_search_trgm")  # every run now fails
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

