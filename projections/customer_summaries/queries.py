"""Reads of customer_summaries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from projections.customer_summaries.tables import SUMMARY_ROW
from projections.read_models import ReadModelStore


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

    def __init__(self, read_models: ReadModelStore) -> None:
        self._read_models = read_models

    async def get(self, customer_id: str) -> CustomerSummaryView | None:
        """The customer's summary, or None when they have no orders."""
        row = await self._read_models.row_by_key(SUMMARY_ROW, customer_id)
        return None if row is None else CustomerSummaryView.from_row(row)

    async def get_many(self, customer_ids: Iterable[str]) -> dict[str, CustomerSummaryView]:
        """The summaries of the customers that have one, by customer id."""
        rows = await self._read_models.rows_by_key(SUMMARY_ROW, list(dict.fromkeys(customer_ids)))
        views = (CustomerSummaryView.from_row(row) for row in rows)
        return {view.customer_id: view for view in views}
