"""Order queries on SQLite and PostgreSQL: pages, sorting with ties, search terms and filters."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.values import Address
from eventstore.database import Database, create_database
from orderly.bootstrap import open_read_models
from projections.order_views.queries import OrderPageView, OrderViewQueries, escape_like
from projections.pages import PageQuery, RowsPage
from projections.postgres_pages import statement_of
from projections.read_models import ReadModelStore
from tests.projections.builders import ADDRESS, T0, History, item
from tests.projections.conftest import apply_batch


async def seed(read_models: ReadModelStore, history: History) -> None:
    """Project the history as one batch: its last position becomes the checkpoint."""
    await apply_batch(read_models, "order_views", history.events)


def ids(page: OrderPageView) -> list[str]:
    return [order.order_id for order in page.items]


@pytest.fixture
async def orders(read_models: ReadModelStore) -> OrderViewQueries:
    """Five orders of customer c-1 (two created at the same instant) and two of c-2."""
    history = History()
    history.created("o-1", "c-1", item("apple", 1, "5.00"), at=T0)
    history.created("o-3", "c-1", item("pear", 3, "1.00"), at=T0 + timedelta(hours=1))
    history.created("o-2", "c-1", item("plum", 2, "2.50"), at=T0 + timedelta(hours=1))
    history.created("o-4", "c-1", item("fig", 1, "20.00"), at=T0 + timedelta(hours=2))
    history.created("o-5", "c-1", item("kiwi", 5, "0.20"), at=T0 + timedelta(hours=3))
    history.shipped("o-4")
    history.cancelled("o-5")
    history.created(
        "o-6",
        "c-2",
        item("50%_off", 1, "5"),
        at=T0 + timedelta(hours=4),
        address=Address(line1="Rue du Lac 1", line2="Bâtiment B", city="Genève", postal_code="1201", country="CH"),
    )
    history.created("o-7", "c-2", item("50xyoff", 1, "7.5"), at=T0 + timedelta(hours=5))
    history.created("o-8", "c-3", item("back\\slash", 1, "1"), at=T0 + timedelta(hours=6))
    await seed(read_models, history)
    return OrderViewQueries(read_models)


async def test_customer_orders_are_newest_first_with_ties_by_order_id(orders: OrderViewQueries) -> None:
    page = await orders.customer_orders("c-1", page=1, page_size=10)

    assert ids(page) == ["o-5", "o-4", "o-2", "o-3", "o-1"]
    assert (page.total, page.page, page.page_size, page.total_pages) == (5, 1, 10, 1)
    assert page.position == 10


async def test_customer_orders_paginate_and_filter_by_status(orders: OrderViewQueries) -> None:
    pages = [await orders.customer_orders("c-1", page=number, page_size=2) for number in (1, 2, 3, 4)]

    assert [ids(page) for page in pages] == [["o-5", "o-4"], ["o-2", "o-3"], ["o-1"], []]
    assert {(page.total, page.total_pages) for page in pages} == {(5, 3)}
    shipped = await orders.customer_orders("c-1", status="SHIPPED")
    assert (ids(shipped), shipped.total, shipped.total_pages) == (["o-4"], 1, 1)


async def test_no_orders_means_no_pages(orders: OrderViewQueries) -> None:
    page = await orders.customer_orders("nobody")

    assert (page.items, page.total, page.total_pages) == ((), 0, 0)


async def test_nonsense_pages_are_clamped(orders: OrderViewQueries) -> None:
    page = await orders.customer_orders("c-1", page=0, page_size=0)

    assert (page.page, page.page_size, ids(page), page.total_pages) == (1, 1, ["o-5"], 5)


@pytest.mark.parametrize(
    ("sort_by", "sort_order", "expected"),
    [
        ("created_at", "desc", ["o-8", "o-7", "o-6", "o-5", "o-4", "o-2", "o-3", "o-1"]),
        ("created_at", "asc", ["o-1", "o-2", "o-3", "o-4", "o-5", "o-6", "o-7", "o-8"]),
        # totals: o-1 5, o-2 5, o-3 3, o-4 20, o-5 1, o-6 5, o-7 7.5, o-8 1
        ("total_amount", "asc", ["o-5", "o-8", "o-3", "o-1", "o-2", "o-6", "o-7", "o-4"]),
        ("total_amount", "desc", ["o-4", "o-7", "o-1", "o-2", "o-6", "o-3", "o-5", "o-8"]),
        # item counts: o-1 1, o-2 2, o-3 3, o-4 1, o-5 5, o-6 1, o-7 1, o-8 1
        ("item_count", "desc", ["o-5", "o-3", "o-2", "o-1", "o-4", "o-6", "o-7", "o-8"]),
    ],
)
async def test_search_sorts_with_ties_by_order_id(
    orders: OrderViewQueries, sort_by: str, sort_order: str, expected: list[str]
) -> None:
    page = await orders.search(sort_by=sort_by, sort_order=sort_order, page_size=20)

    assert ids(page) == expected
    assert page.total == 8


async def test_every_term_must_match_case_insensitively(orders: OrderViewQueries) -> None:
    assert ids(await orders.search(terms="GENÈVE")) == ["o-6"]
    assert ids(await orders.search(terms="  c-2   bâtiment ")) == ["o-6"]
    assert ids(await orders.search(terms="c-2 springfield")) == ["o-7"]
    assert ids(await orders.search(terms="PLUM o-2")) == ["o-2"]
    assert ids(await orders.search(terms="plum o-3")) == []
    assert (await orders.search(terms="")).total == 8
    assert (await orders.search(terms=None)).total == 8


async def test_like_wildcards_in_terms_match_only_themselves(orders: OrderViewQueries) -> None:
    assert ids(await orders.search(terms="50%_off")) == ["o-6"]
    assert ids(await orders.search(terms="50%")) == ["o-6"]
    assert ids(await orders.search(terms="_off")) == ["o-6"]
    assert ids(await orders.search(terms="%")) == ["o-6"]
    assert ids(await orders.search(terms="back\\slash")) == ["o-8"]
    assert ids(await orders.search(terms="\\")) == ["o-8"]
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"


async def test_filters_are_inclusive_and_combine(orders: OrderViewQueries) -> None:
    by_total = await orders.search(min_total=Decimal("5"), max_total=Decimal("7.5"), sort_order="asc")
    assert ids(by_total) == ["o-1", "o-2", "o-6", "o-7"]
    assert ids(await orders.search(min_total=Decimal("7.50001"))) == ["o-4"]
    assert ids(await orders.search(max_total=Decimal("0.99999"))) == []
    by_time = await orders.search(
        created_after=T0 + timedelta(hours=1), created_before=T0 + timedelta(hours=2), sort_order="asc"
    )
    assert ids(by_time) == ["o-2", "o-3", "o-4"]
    assert ids(await orders.search(status="CANCELLED")) == ["o-5"]
    assert ids(await orders.search(customer_id="c-2", terms="off", min_total=Decimal("6"))) == ["o-7"]


async def test_search_pages_report_totals(orders: OrderViewQueries) -> None:
    page = await orders.search(customer_id="c-1", page=2, page_size=3)

    assert (ids(page), page.total, page.page, page.total_pages, page.position) == (["o-3", "o-1"], 5, 2, 2, 10)


async def test_bad_sort_or_status_is_refused(orders: OrderViewQueries) -> None:
    with pytest.raises(ValueError):
        await orders.search(sort_by="price")
    with pytest.raises(ValueError):
        await orders.search(sort_order="sideways")
    with pytest.raises(ValueError):
        await orders.customer_orders("c-1", status="LOST")


async def test_search_terms_use_the_trigram_index_on_postgres(postgres_url: str) -> None:
    database = create_database(postgres_url)
    try:
        await _assert_trigram_plan(database)
    finally:
        await database.dispose()


class _RecordingPages:
    """The store, keeping each page query the queries ask it for."""

    def __init__(self, store: ReadModelStore) -> None:
        self._store = store
        self.queries: list[PageQuery] = []

    async def read_page(self, query: PageQuery) -> RowsPage:
        self.queries.append(query)
        return await self._store.read_page(query)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def _assert_trigram_plan(database: Database) -> None:
    history = History()
    for number in range(300):
        history.created(f"bulk-{number}", f"cust-{number % 7}", item(f"sku-{number}"), address=ADDRESS)
        if number % 3 == 1:
            history.shipped(f"bulk-{number}")
        elif number % 3 == 2:
            history.cancelled(f"bulk-{number}")
    store = open_read_models(database)
    await seed(store, history)
    recording = _RecordingPages(store)
    orders = OrderViewQueries(recording)  # type: ignore[arg-type]
    assert (await orders.search(terms="sku-17", status="SHIPPED")).total == 3  # sku-172, -175, -178
    assert (await orders.search(terms="sku-17")).total == 11
    by_status, any_status = recording.queries
    pool = await database.raw_pool()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ANALYZE order_views__g1")  # the live generation (order_views is its view)
        await conn.execute("SET LOCAL enable_seqscan = off")
        # The plan asyncpg's prepared statement settles on after five runs: it cannot see the
        # bound values, so the status must be in the statement for a partial index to match.
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        # On 300 rows the planner would rather read the status B-tree, dropped here (rolled back).
        await conn.execute("DROP INDEX ix_order_views_status")
        filtered, unfiltered = [await _generic_plan(conn, query) for query in (by_status, any_status)]
    assert "ix_order_views_search_shipped" in filtered
    assert "ix_order_views_search_created" not in filtered and "ix_order_views_search_cancelled" not in filtered
    assert "BitmapOr" in unfiltered
    assert all(f"ix_order_views_search_{status}" in unfiltered for status in ("created", "shipped", "cancelled"))


async def _generic_plan(conn: Any, query: PageQuery) -> str:
    statement, arguments = statement_of("order_views", query)
    await conn.execute(f"PREPARE page AS {statement}")
    literals = ", ".join(f"'{value}'" if isinstance(value, str) else str(value) for value in arguments)
    plan = "\n".join(row[0] for row in await conn.fetch(f"EXPLAIN EXECUTE page({literals})"))
    await conn.execute("DEALLOCATE page")
    return plan
