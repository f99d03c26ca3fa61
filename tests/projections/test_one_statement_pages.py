"""The one-statement page on PostgreSQL answers exactly what the snapshot transaction of SQLAlchemy answers.

Generated order_views rows (ties in created_at, totals and item counts; LIKE wildcards, a
backslash and non-ASCII text in the searchable words) and generated arguments; both roads read
the same database, the page, the total, the page count and the checkpoint position must agree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, text

from domain.values import OrderStatus
from eventstore.database import Database, create_database
from orderly.bootstrap import open_read_models
from projections import postgres_pages
from projections.checkpoints import ensure_checkpoint
from projections.generations import physical_table
from projections.money import lower_bound_minor, upper_bound_minor
from projections.order_views.queries import OrderSortField, OrderViewQueries, SortOrder, search_terms
from projections.order_views.tables import ORDER_ROW, order_views
from projections.pages import Filter, Match, PageQuery, PageReads, SortKey
from projections.postgres_pages import _statement, read_page
from projections.read_models import ReadModelStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CUSTOMERS = ("c-1", "c-2", "Ç-3")
WORDS = ("apple", "50%_off", "50xyoff", "back\\slash", "genève", "straße", "pear", "ab")
PRICES = ("0.20", "1.00", "2.50", "5", "12.99")
ADDRESS = {"line1": "1 Main St", "line2": None, "city": "Springfield", "postal_code": "12345", "country": "US"}


class WithoutPageReads:
    """The same store without read_page: the queries take SQLAlchemy's snapshot road."""

    def __init__(self, store: ReadModelStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name == "read_page":
            raise AttributeError(name)
        return getattr(self._store, name)


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[Database]:
    database = create_database(postgres_url)
    try:
        yield database
    finally:
        await database.dispose()


@st.composite
def order_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for index in range(draw(st.integers(0, 12))):
        lines = draw(
            st.lists(st.tuples(st.sampled_from(WORDS), st.integers(1, 4), st.sampled_from(PRICES)), min_size=1, max_size=3)
        )
        total = sum((Decimal(price) * quantity for _, quantity, price in lines), Decimal(0))
        order_id = f"o-{index}"
        customer = draw(st.sampled_from(CUSTOMERS))
        rows.append(
            {
                "order_id": order_id,
                "customer_id": customer,
                "status": draw(st.sampled_from(list(OrderStatus))).value,
                "items": [{"product_id": word, "quantity": quantity, "price": price} for word, quantity, price in lines],
                "item_count": sum(quantity for _, quantity, _ in lines),
                "total_amount": str(total),
                "total_minor": int(total * 100),
                "shipping_address": ADDRESS,
                "created_at": T0 + timedelta(hours=draw(st.integers(0, 3))),
                "shipped_at": None,
                "cancelled_at": None,
                "cancel_reason": None,
                "version": 1,
                "position": index + 1,
                "search_text": " ".join([order_id, customer, *(word for word, _, _ in lines)]).casefold(),
            }
        )
    return rows


def amounts() -> st.SearchStrategy[Decimal | None]:
    return st.none() | st.decimals(min_value=0, max_value=40, places=3)


def moments() -> st.SearchStrategy[datetime | None]:
    return st.none() | st.integers(-1, 4).map(lambda hours: T0 + timedelta(hours=hours, minutes=30 * (hours % 2)))


def search_arguments() -> st.SearchStrategy[dict[str, Any]]:
    terms = st.lists(st.sampled_from([*WORDS, "APPLE", "50%", "_", "\\", "%", "o-1", "GENÈVE", "STRASSE", "zzz"]), max_size=3)
    return st.fixed_dictionaries(
        {
            "terms": st.none() | terms.map(" ".join),
            "status": st.none() | st.sampled_from([status.value for status in OrderStatus]),
            "customer_id": st.none() | st.sampled_from(CUSTOMERS),
            "min_total": amounts(),
            "max_total": amounts(),
            "created_after": moments(),
            "created_before": moments(),
            "sort_by": st.sampled_from([field.value for field in OrderSortField]),
            "sort_order": st.sampled_from([order.value for order in SortOrder]),
            "page": st.sampled_from([0, 1, 2, 3, 4, 10_001]),
            "page_size": st.sampled_from([0, 1, 2, 3, 5, 101]),
        }
    )


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    rows=order_rows(),
    position=st.none() | st.integers(0, 10**12),
    search=search_arguments(),
    customer=st.sampled_from([*CUSTOMERS, "nobody"]),
)
async def test_one_statement_pages_equal_the_snapshot_road(
    postgres: Database, rows: list[dict[str, Any]], position: int | None, search: dict[str, Any], customer: str
) -> None:
    store = open_read_models(postgres)
    assert isinstance(store, PageReads)  # PostgreSQL reads pages in one statement
    one_statement, snapshot = OrderViewQueries(store), OrderViewQueries(WithoutPageReads(store))
    await _store_rows(postgres, store, rows, position)

    expected = await snapshot.search(**search)
    assert await one_statement.search(**search) == expected
    assert expected.position == (position or 0)
    assert expected.total == sum(1 for row in rows if _found(row, search))
    size = search["page_size"]
    expected = await snapshot.customer_orders(customer, status=search["status"], page=search["page"], page_size=size)
    got = await one_statement.customer_orders(customer, status=search["status"], page=search["page"], page_size=size)
    assert got == expected
    assert got.total == sum(1 for row in rows if row["customer_id"] == customer and search["status"] in (None, row["status"]))


async def _store_rows(postgres: Database, store: ReadModelStore, rows: list[dict[str, Any]], position: int | None) -> None:
    table = physical_table(order_views, 1)
    async with postgres.write_engine.begin() as conn:
        await conn.execute(delete(table))
        await conn.execute(text("DELETE FROM projection_checkpoints WHERE name = 'order_views'"))
        if rows:
            await conn.execute(insert(table), rows)
        if position is not None:
            await ensure_checkpoint(store, conn, "order_views")
            await conn.execute(
                text("UPDATE projection_checkpoints SET position = :p WHERE name = 'order_views'"), {"p": position}
            )


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    rows=order_rows(),
    terms=st.lists(st.sampled_from([*WORDS, "o-", "c-", "a", "%", "_", "APPLE"]), min_size=1, max_size=2).map(" ".join),
    status=st.none() | st.sampled_from([status.value for status in OrderStatus]),
)
async def test_a_term_search_finds_every_row_of_its_status_on_both_roads(
    postgres: Database, rows: list[dict[str, Any]], terms: str, status: str | None
) -> None:
    """Term searches only (the other filters would mostly empty the page): the rows the terms find."""
    store = open_read_models(postgres)
    await _store_rows(postgres, store, rows, None)
    search = {"terms": terms, "status": status, "customer_id": None, "min_total": None, "max_total": None}
    wanted = sorted(row["order_id"] for row in rows if _found(row, {**search, "created_after": None, "created_before": None}))
    for queries in (OrderViewQueries(store), OrderViewQueries(WithoutPageReads(store))):
        page = await queries.search(terms=terms, status=status, page_size=100)
        assert page.total == len(wanted)
        assert sorted(row["order_id"] for row in page.rows) == wanted


def _found(row: dict[str, Any], search: dict[str, Any]) -> bool:
    """Whether a search finds the row, as its documentation says (bounds inclusive, terms casefolded)."""
    low, high = search["min_total"], search["max_total"]
    after, before = search["created_after"], search["created_before"]
    return (
        all(term in row["search_text"] for term in search_terms(search["terms"]))
        and search["status"] in (None, row["status"])
        and search["customer_id"] in (None, row["customer_id"])
        and (low is None or row["total_minor"] >= lower_bound_minor(low))
        and (high is None or row["total_minor"] <= upper_bound_minor(high))
        and (after is None or row["created_at"] >= after)
        and (before is None or row["created_at"] <= before)
    )


def test_a_search_page_reads_its_matches_once() -> None:
    """A LIKE page collects the matching keys once (one trigram scan for the count and the page)."""
    order = (SortKey("created_at", descending=True), SortKey("order_id"))
    filters = (("search_text", Match.LIKE, None), ("status", Match.EQUALS, ("SHIPPED",)))
    searched = _statement("order_views", ("order_id",), filters, order, ("order_id",))
    listed = _statement("order_views", ("order_id",), (("customer_id", Match.EQUALS, None),), order, ("order_id",))
    assert searched.count('FROM "order_views" WHERE') == 1 and "MATERIALIZED" in searched
    assert listed.count('FROM "order_views" WHERE') == 2 and "MATERIALIZED" not in listed


def test_a_status_is_written_into_a_search_statement_and_its_parameters_renumbered() -> None:
    order = (SortKey("created_at", descending=True), SortKey("order_id"))
    filters = (
        ("search_text", Match.LIKE, None),
        ("status", Match.ANY_OF, ("CREATED", "SHIPPED")),
        ("total_minor", Match.AT_LEAST, None),
    )
    statement = _statement("order_views", ("order_id",), filters, order, ("order_id",))
    assert "(\"status\" = 'CREATED' OR \"status\" = 'SHIPPED') AND \"total_minor\" >= $2" in statement
    assert "LIMIT $3 OFFSET $4" in statement and "name = $5" in statement
    one = _statement("order_views", ("order_id",), (("status", Match.EQUALS, ("SHIPPED",)),), order, ("order_id",))
    assert "\"status\" = 'SHIPPED'" in one and "LIMIT $1 OFFSET $2" in one


@pytest.mark.parametrize(
    "condition",
    [
        Filter("status", Match.EQUALS, "SHIPPED' OR '1'='1", inline=True),
        Filter("status", Match.ANY_OF, ("CREATED", "x'; DROP TABLE events; --"), inline=True),
        Filter("status", Match.EQUALS, 7, inline=True),
        Filter("status", Match.ANY_OF, ("CREATED",)),  # constants only: never bound
    ],
)
async def test_an_inline_value_that_is_not_a_plain_word_is_refused_before_any_statement(condition: Filter) -> None:
    query = PageQuery(
        table=order_views, columns=("order_id",), filters=(condition,), order=(), limit=1, offset=0, checkpoint="x"
    )
    with pytest.raises(ValueError):
        await read_page(None, "order_views", query, timeout=None)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    rows=order_rows(),
    columns=st.lists(st.sampled_from(ORDER_ROW.columns), min_size=1, max_size=len(ORDER_ROW.columns), unique=True).map(tuple),
    search=st.booleans(),
)
async def test_rows_taken_by_position_equal_rows_taken_by_name(
    postgres: Database, rows: list[dict[str, Any]], columns: tuple[str, ...], search: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_read_models(postgres)
    assert isinstance(store, PageReads)
    async with postgres.write_engine.begin() as conn:
        await conn.execute(delete(physical_table(order_views, 1)))
        if rows:
            await conn.execute(insert(physical_table(order_views, 1)), rows)
    filters = (Filter("search_text", Match.LIKE, "%o-%"),) if search else ()
    query = PageQuery(
        table=order_views,
        columns=columns,
        filters=filters,
        order=(SortKey("created_at", descending=True), SortKey("order_id")),
        limit=5,
        offset=0,
        checkpoint="order_views",
    )

    by_position = await store.read_page(query)
    with monkeypatch.context() as patched:
        patched.setattr(postgres_pages, "_columns_at", lambda names, columns: None)
        by_name = await store.read_page(query)

    assert by_position == by_name
    assert [list(row) for row in by_position.rows] == [list(columns)] * len(by_position.rows)
    assert len(by_position.rows) == min(5, len(rows))


def test_columns_are_taken_by_position_only_where_they_stand_side_by_side_in_order() -> None:
    names = ("__total", "__position", "a", "b", "c", "__sort0", "__present")
    assert postgres_pages._columns_at(names, ("a", "b", "c")) == slice(2, 5)
    assert postgres_pages._columns_at(names, ("b",)) == slice(3, 4)
    assert postgres_pages._columns_at(names, ("a", "c")) is None
    assert postgres_pages._columns_at(names, ("b", "a")) is None
    assert postgres_pages._columns_at(names, ("a", "b", "c", "d")) is None
    assert postgres_pages._columns_at(names, ("z",)) is None
    assert postgres_pages._columns_at(names, ()) is None
