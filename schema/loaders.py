"""DataLoaders that batch per-row reads of nested fields into one query per tick."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from projections.customer_summaries.queries import CustomerSummaryView
from projections.order_views.queries import OrderView
from schema.ports import CustomerQueries, OrderQueries

MAX_BATCH = 500


@dataclass(frozen=True)
class Loaders:
    """The loaders of one context."""

    customer_summary: DataLoader[str, CustomerSummaryView | None]


def build_loaders(customers: CustomerQueries, *, cache: bool) -> Loaders:
    """Fresh loaders; `cache=False` for WebSocket contexts, which outlive one operation."""

    async def load_summaries(customer_ids: Sequence[str]) -> list[CustomerSummaryView | None]:
        found = await customers.get_many(list(customer_ids))
        return [found.get(customer_id) for customer_id in customer_ids]

    return Loaders(customer_summary=DataLoader(load_fn=load_summaries, cache=cache))


class BatchedOrderReader:
    """One per process: the order reads of every waiting subscription in the same event-loop
    tick become one query (a RESYNC wakes thousands at once). Nothing is cached, so a read
    is never older than the notice that triggered it."""

    def __init__(self, orders: OrderQueries) -> None:
        async def load_views(order_ids: Sequence[str]) -> list[OrderView | None]:
            found = await orders.get_many(list(dict.fromkeys(order_ids)))
            return [found.get(order_id) for order_id in order_ids]

        self._loader: DataLoader[str, OrderView | None] = DataLoader(load_fn=load_views, cache=False, max_batch_size=MAX_BATCH)

    async def get(self, order_id: str) -> OrderView | None:
        """The order's current view, read in a batch with this tick's other reads."""
        return await self._loader.load(order_id)
