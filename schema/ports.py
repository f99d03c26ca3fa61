"""What resolvers and loaders need from the layers below, as Protocols (the composition root
plugs in the SQL adapters; a test may plug in fakes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from domain.commands import Command
from domain.ports import AppendResult, RecordedEvent
from projections.customer_summaries.queries import CustomerSummaryView
from projections.order_views.queries import OrderPageView, OrderView


class CommandDispatcher(Protocol):
    """Runs a command to what it wrote (domain.command_bus.CommandBus)."""

    async def dispatch(self, command: Command) -> AppendResult:
        """The command's result, or a typed domain error."""
        ...


class StreamReader(Protocol):
    """Reads one stream from the event store."""

    async def replay_stream(self, stream_id: str) -> Sequence[RecordedEvent]:
        """The stream's events as stored, oldest first (one this code cannot decode too); empty for an unknown stream."""
        ...


class OrderQueries(Protocol):
    """Reads of the order_views read model."""

    async def get(self, order_id: str) -> OrderView | None:
        """The order's view, or None."""
        ...

    async def get_many(self, order_ids: Iterable[str]) -> dict[str, OrderView]:
        """The views of the orders that have one, by order id."""
        ...

    async def customer_orders(
        self, customer_id: str, *, status: str | None = None, page: int = ..., page_size: int = ...
    ) -> OrderPageView:
        """A customer's orders, newest first."""
        ...

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
        sort_by: str = ...,
        sort_order: str = ...,
        page: int = ...,
        page_size: int = ...,
    ) -> OrderPageView:
        """Orders matching the terms and filters, sorted and paged."""
        ...


class CustomerQueries(Protocol):
    """Reads of the customer_summaries read model."""

    async def get_many(self, customer_ids: Iterable[str]) -> dict[str, CustomerSummaryView]:
        """The summaries of the customers that have one, by customer id."""
        ...
