"""Reads of customer_summaries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select

from eventstore.database import Database
from projections.bulk import rows_by_key, single_statement_reader
from projections.customer_summaries.tables import customer_summaries

_VIEW_COLUMNS = [column for column in customer_summaries.c if column.name != "lifetime_minor"]
_GET = select(*_VIEW_COLUMNS).where(customer_summaries.c.customer_id == bindparam("customer_id"))


@dataclass(frozen=True, kw_only=True)
class CustomerSummaryView:
    """A customer's order counts and lifetime value."""

    customer_id: str
    order_count: int
    open_order_count: int
    shipped_order_count: int
    cancelled_order_count: int
    lifetime_value: Decimal
    last_order_at: datetime | None
    position: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> CustomerSummaryView:
        """Build the view from a customer_summaries row."""
        return cls(
            customer_id=row["customer_id"],
            order_count=row["order_count"],
            open_order_count=row["open_order_count"],
            shipped_order_count=row["shipped_order_count"],
            cancelled_order_count=row["cancelled_order_count"],
            lifetime_value=Decimal(row["lifetime_value"]),
            last_order_at=row["last_order_at"],
            position=row["position"],
        )


class CustomerSummaryQueries:
    """Plain SELECTs over customer_summaries."""

    def __init__(self, database: Database) -> None:
        self._reader = single_statement_reader(database)

    async def get(self, customer_id: str) -> CustomerSummaryView | None:
        """The customer's summary, or None when they have no orders."""
        async with self._reader.connect() as conn:
            row = (await conn.execute(_GET, {"customer_id": customer_id})).first()
        return None if row is None else CustomerSummaryView.from_row(row._mapping)

    async def get_many(self, customer_ids: Iterable[str]) -> dict[str, CustomerSummaryView]:
        """The summaries of the customers that have one, by customer id."""
        wanted = list(dict.fromkeys(customer_ids))
        views: dict[str, CustomerSummaryView] = {}
        async with self._reader.connect() as conn:
            query = select(*_VIEW_COLUMNS)
            async for row in rows_by_key(conn, query, customer_summaries.c.customer_id, wanted):
                view = CustomerSummaryView.from_row(row._mapping)
                views[view.customer_id] = view
        return views
