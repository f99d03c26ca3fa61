"""Reads of order_views: one order, many orders, a customer's orders, a filtered search."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any

from sqlalchemy import Column, Select, func, select

from domain.limits import MAX_TEXT_LENGTH
from domain.values import Address, OrderStatus
from projections.checkpoints import checkpoint_position
from projections.filled import filled
from projections.money import lower_bound_minor, upper_bound_minor
from projections.order_views.tables import ORDER_ROW, order_views
from projections.pages import (
    Filter,
    Match,
    PageQuery,
    PageReads,
    RowsPage,
    SortKey,
    sqlalchemy_conditions,
    sqlalchemy_ordering,
)
from projections.read_models import ReadModelStore

NAME = "order_views"


class OrderSortField(StrEnum):
    """What a search may sort by (a whitelist); the contract's OrderSortField."""

    CREATED_AT = "created_at"
    TOTAL_AMOUNT = "total_amount"
    ITEM_COUNT = "item_count"


class SortOrder(StrEnum):
    """Ascending or descending; the contract's SortOrder."""

    ASC = "asc"
    DESC = "desc"


SORT_COLUMNS: dict[str, Column[Any]] = {
    OrderSortField.CREATED_AT: order_views.c.created_at,
    OrderSortField.TOTAL_AMOUNT: order_views.c.total_minor,
    OrderSortField.ITEM_COUNT: order_views.c.item_count,
}
# Pages: the API refuses a page or page size beyond these; a direct caller is clamped to them.
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# The deepest page: OFFSET reads and discards every row before the page, and page 10,000
# of 100 rows skips a million.
MAX_PAGE = 10_000
# Search terms, for every backend alike. SQLite refuses a LIKE pattern over 50,000 bytes
# ("LIKE or GLOB pattern too complex") and an expression tree deeper than 1,000 (about
# 1,000 terms ANDed together). Far below both: a (casefolded) term as long as the longest
# text an order holds, and twenty of them.
MAX_SEARCH_TERMS = 20
MAX_SEARCH_TERM_LENGTH = MAX_TEXT_LENGTH
_VIEW_COLUMNS = [order_views.c[name] for name in ORDER_ROW.columns]


@dataclass(frozen=True, kw_only=True)
class OrderItemView:
    """One line of an order."""

    product_id: str
    quantity: int
    price: Decimal
    line_total: Decimal


@dataclass(frozen=True, kw_only=True)
class OrderView:
    """An order as order_views shows it."""

    order_id: str
    customer_id: str
    status: OrderStatus
    items: tuple[OrderItemView, ...]
    item_count: int
    total_amount: Decimal
    shipping_address: Address
    created_at: datetime
    shipped_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    version: int
    position: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> OrderView:
        """Build the view from an order_views row (every field, as __init__ would: see projections/filled.py)."""
        items = []
        for item in row["items"]:
            price = Decimal(item["price"])
            quantity = item["quantity"]
            line = {"product_id": item["product_id"], "quantity": quantity, "price": price, "line_total": price * quantity}
            items.append(filled(OrderItemView, line))
        address = row["shipping_address"]
        return filled(
            cls,
            {
                "order_id": row["order_id"],
                "customer_id": row["customer_id"],
                "status": _STATUSES.get(row["status"]) or OrderStatus(row["status"]),
                "items": tuple(items),
                "item_count": row["item_count"],
                "total_amount": Decimal(row["total_amount"]),
                "shipping_address": filled(Address, _address_fields(address)),
                "created_at": row["created_at"],
                "shipped_at": row["shipped_at"],
                "cancelled_at": row["cancelled_at"],
                "cancel_reason": row["cancel_reason"],
                "version": row["version"],
                "position": row["position"],
            },
        )


_STATUSES: dict[str, OrderStatus] = {status.value: status for status in OrderStatus}
_ANY_STATUS = tuple(status.value for status in OrderStatus)
_ADDRESS_FIELDS = frozenset(field.name for field in dataclasses.fields(Address))


def _address_fields(address: Mapping[str, Any]) -> dict[str, Any]:
    """The stored address's fields; refused (as Address(**address) would) unless exactly Address's fields."""
    if address.keys() != _ADDRESS_FIELDS:
        raise TypeError(f"an address has exactly the fields {sorted(_ADDRESS_FIELDS)}, got {sorted(address)}")
    return dict(address)


@dataclass(frozen=True, kw_only=True)
class OrderPageView:
    """One page of orders and the read model's checkpoint when it was read.

    The orders are kept as their rows (JSON columns decoded) and become views on first use of
    `items`: the API renders a page straight from the rows when it can (resolvers/order_rows.py).
    """

    rows: tuple[Mapping[str, Any], ...]
    total: int
    page: int
    page_size: int
    total_pages: int
    position: int

    @cached_property
    def items(self) -> tuple[OrderView, ...]:
        """The page's orders as views (built once)."""
        return tuple(OrderView.from_row(row) for row in self.rows)


def escape_like(term: str) -> str:
    """The term with LIKE's wildcards and escape character escaped (escape char: backslash)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_terms(text: str | None) -> tuple[str, ...]:
    """The distinct casefolded whitespace-separated terms of a search, in order."""
    return tuple(dict.fromkeys((text or "").casefold().split()))


def _term_filters(terms: str | None) -> list[Filter]:
    words = search_terms(terms)
    if len(words) > MAX_SEARCH_TERMS or any(len(word) > MAX_SEARCH_TERM_LENGTH for word in words):
        raise ValueError(f"at most {MAX_SEARCH_TERMS} search terms of at most {MAX_SEARCH_TERM_LENGTH} characters")
    return [Filter("search_text", Match.LIKE, f"%{escape_like(word)}%") for word in words]


class OrderViewQueries:
    """Plain SELECTs over order_views."""

    def __init__(self, read_models: ReadModelStore) -> None:
        self._read_models = read_models
        # A store that reads page, total and position in one statement (PostgreSQL); else SQLAlchemy's road.
        self._page_reads = read_models if isinstance(read_models, PageReads) else None

    async def get(self, order_id: str) -> OrderView | None:
        """The order's view, or None."""
        row = await self._read_models.row_by_key(ORDER_ROW, order_id)
        return None if row is None else OrderView.from_row(row)

    async def get_many(self, order_ids: Iterable[str]) -> dict[str, OrderView]:
        """The views of the orders that have one, by order id."""
        rows = await self._read_models.rows_by_key(ORDER_ROW, list(dict.fromkeys(order_ids)))
        views = (OrderView.from_row(row) for row in rows)
        return {view.order_id: view for view in views}

    async def customer_orders(
        self, customer_id: str, *, status: str | None = None, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
    ) -> OrderPageView:
        """A customer's orders, newest first, ties by order id."""
        filters = [Filter("customer_id", Match.EQUALS, customer_id)]
        if status is not None:
            filters.append(Filter("status", Match.EQUALS, _status(status).value))
        ordering = (SortKey("created_at", descending=True), SortKey("order_id"))
        return await self._page(filters, ordering, page, page_size)

    async def search(
        self,
        *,
        terms: str | None = None,
        status: str | None = None,
        customer_id: str | None = None,
        min_total: Decimal | None = None,
        max_total: Decimal | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        sort_by: str = OrderSortField.CREATED_AT,
        sort_order: str = SortOrder.DESC,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> OrderPageView:
        """Orders containing every term (case-insensitive), filtered (bounds inclusive), sorted, ties by order id."""
        if sort_by not in SORT_COLUMNS:
            raise ValueError(f"sort_by must be one of {sorted(field.value for field in OrderSortField)}")
        if sort_order not in (SortOrder.ASC, SortOrder.DESC):
            raise ValueError("sort_order must be 'asc' or 'desc'")
        filters = _term_filters(terms)
        # The terms are answered by one partial trigram index per status (tables.py), which a
        # plan can use only when the statement names the status: a given one, else any of them.
        if status is not None:
            filters.append(Filter("status", Match.EQUALS, _status(status).value, inline=True))
        elif filters:
            filters.append(Filter("status", Match.ANY_OF, _ANY_STATUS, inline=True))
        if customer_id is not None:
            filters.append(Filter("customer_id", Match.EQUALS, customer_id))
        if min_total is not None:
            filters.append(Filter("total_minor", Match.AT_LEAST, lower_bound_minor(min_total)))
        if max_total is not None:
            filters.append(Filter("total_minor", Match.AT_MOST, upper_bound_minor(max_total)))
        if created_after is not None:
            filters.append(Filter("created_at", Match.AT_LEAST, created_after))
        if created_before is not None:
            filters.append(Filter("created_at", Match.AT_MOST, created_before))
        column = SORT_COLUMNS[sort_by]
        ordering = (SortKey(column.name, descending=sort_order == SortOrder.DESC), SortKey("order_id"))
        return await self._page(filters, ordering, page, page_size)

    async def _page(self, filters: Sequence[Filter], ordering: Sequence[SortKey], page: int, page_size: int) -> OrderPageView:
        page = min(max(1, page), MAX_PAGE)
        page_size = min(max(1, page_size), MAX_PAGE_SIZE)
        query = PageQuery(
            table=order_views,
            columns=ORDER_ROW.columns,
            filters=tuple(filters),
            order=tuple(ordering),
            limit=page_size,
            offset=(page - 1) * page_size,
            checkpoint=NAME,
        )
        if self._page_reads is not None:
            read = await self._page_reads.read_page(query)
        else:
            read = await self._read_in_snapshot(query)
        return OrderPageView(
            rows=tuple(read.rows),
            total=read.total,
            page=page,
            page_size=page_size,
            total_pages=-(-read.total // page_size),
            position=read.position,
        )

    async def _read_in_snapshot(self, query: PageQuery) -> RowsPage:
        conditions = sqlalchemy_conditions(query)
        rows_query: Select[Any] = (
            select(*_VIEW_COLUMNS)
            .where(*conditions)
            .order_by(*sqlalchemy_ordering(query))
            .limit(query.limit)
            .offset(query.offset)
        )
        count_query = select(func.count()).select_from(order_views).where(*conditions)
        async with self._read_models.snapshot() as conn:
            # Checkpoint first: rows read afterwards are at least as new, so `position` never
            # claims more than the page shows (even where the reads are not one snapshot).
            position = await checkpoint_position(conn, NAME)
            rows = (await conn.execute(rows_query)).all()
            total = int(await conn.scalar(count_query) or 0)
        return RowsPage(rows=[row._mapping for row in rows], total=total, position=position)


def _status(status: str) -> OrderStatus:
    try:
        return OrderStatus(status)
    except ValueError:
        raise ValueError(f"status must be one of {sorted(member.value for member in OrderStatus)}") from None
