"""An unreachable database on a read path is ServiceUnavailableError, as on the write path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from domain.errors import ServiceUnavailableError
from eventstore.database import Database, create_database, is_unavailable
from eventstore.memory_store import InMemoryEventStore
from orderly.bootstrap import open_read_models
from projections.checkpoints import checkpoint_position
from projections.customer_summaries.queries import CustomerSummaryQueries
from projections.order_views.queries import OrderViewQueries
from projections.status import projection_statuses


async def _checkpoint(database: Database) -> int:
    async with open_read_models(database).reader.connect() as conn:
        return await checkpoint_position(conn, "order_views")


READS: dict[str, Callable[[Database], Awaitable[Any]]] = {
    "order": lambda database: OrderViewQueries(open_read_models(database)).get("o"),
    "orders": lambda database: OrderViewQueries(open_read_models(database)).get_many(["o"]),
    "page": lambda database: OrderViewQueries(open_read_models(database)).customer_orders("c"),
    "search": lambda database: OrderViewQueries(open_read_models(database)).search(terms="x", sort_by="item_count"),
    "customer": lambda database: CustomerSummaryQueries(open_read_models(database)).get("c"),
    "customers": lambda database: CustomerSummaryQueries(open_read_models(database)).get_many(["c"]),
    "statuses": lambda database: projection_statuses(open_read_models(database), InMemoryEventStore()),
    "checkpoint": _checkpoint,
}


@pytest.fixture(params=["postgres", "sqlite"])
async def unreachable(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgres":
        database = create_database("postgresql://postgres@127.0.0.1:1/nothing", pool_timeout=1, connect_timeout=1)
    else:
        database = create_database(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    try:
        yield database
    finally:
        await database.dispose()
        await asyncio.sleep(0.05)  # let aiosqlite's worker thread of a failed connect finish


@pytest.mark.parametrize("read", list(READS))
async def test_a_read_of_an_unreachable_database_is_service_unavailable(unreachable: Database, read: str) -> None:
    with pytest.raises(ServiceUnavailableError) as caught:
        await READS[read](unreachable)
    assert caught.value.__cause__ is not None and is_unavailable(caught.value.__cause__)
