"""DataLoaders that batch per-row reads of nested fields into one query per tick."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from projections.customer_summaries.queries import CustomerSummaryQueries, CustomerSummaryView


@dataclass(frozen=True)
class Loaders:
    """The loaders of one context."""

    customer_summary: DataLoader[str, CustomerSummaryView | None]


def build_loaders(customers: CustomerSummaryQueries, *, cache: bool) -> Loaders:
    """Fresh loaders; `cache=False` for WebSocket contexts, which outlive one operation."""

    async def load_summaries(customer_ids: Sequence[str]) -> list[CustomerSummaryView | None]:
        found = await customers.get_many(list(customer_ids))
        return [found.get(customer_id) for customer_id in customer_ids]

    return Loaders(customer_summary=DataLoader(load_fn=load_summaries, cache=cache))
