"""A bounded share of the database pool per request: at most N of its reads at once.

One request with 10,000 `order()` aliases used to start 10,000 reads together: the pool ran
dry for everyone (SQLite: 17 to 32 s, thousands of SERVICE_UNAVAILABLE, the projectors'
own reads failing). The operation's extension (resolvers/operation_budget.py) puts a
semaphore in a context variable for the length of the execution; the read ports that
resolvers and loaders use are wrapped once, at start-up, to take it around each read. The
variable is copied into the tasks graphql-core starts for the fields (and into a DataLoader's
batch), and is unset everywhere else (projectors, the batched subscription reader), which
keep their own pools. A wrapped read holds its place only for its own query, never while
another read waits, so reads of one request cannot wait on each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from domain.ports import RecordedEvent
from projections.customer_summaries.queries import CustomerSummaryView
from projections.order_views.queries import OrderPageView, OrderView
from projections.status import ProjectionStatusView
from schema.context import Services
from schema.ports import CustomerQueries, OrderQueries, StreamReader

_READS: ContextVar[asyncio.Semaphore | None] = ContextVar("orderly_request_reads", default=None)


@contextmanager
def request_reads(limit: int) -> Iterator[None]:
    """Inside it (one operation's execution), at most `limit` reads through the gated ports at once."""
    token = _READS.set(asyncio.Semaphore(limit))
    try:
        yield
    finally:
        _READS.reset(token)


@asynccontextmanager
async def _one_read() -> AsyncIterator[None]:
    gate = _READS.get()
    if gate is None:
        yield
        return
    async with gate:
        yield


class GatedOrderQueries:
    """OrderQueries taking the request's read gate."""

    def __init__(self, inner: OrderQueries) -> None:
        self._inner = inner

    async def get(self, order_id: str) -> OrderView | None:
        """The order's view, or None."""
        # _one_read spelled out: the read of every order(orderId), where the generator-based
        # context manager cost more than the read's own Python.
        gate = _READS.get()
        if gate is None:
            return await self._inner.get(order_id)
        async with gate:
            return await self._inner.get(order_id)

    async def get_many(self, order_ids: Iterable[str]) -> dict[str, OrderView]:
        """The views of the orders that have one."""
        async with _one_read():
            return await self._inner.get_many(order_ids)

    async def customer_orders(self, customer_id: str, **options: Any) -> OrderPageView:
        """A customer's orders, newest first."""
        async with _one_read():
            return await self._inner.customer_orders(customer_id, **options)

    async def search(self, **criteria: Any) -> OrderPageView:
        """Orders matching the terms and filters."""
        async with _one_read():
            return await self._inner.search(**criteria)


class GatedCustomerQueries:
    """CustomerQueries taking the request's read gate."""

    def __init__(self, inner: CustomerQueries) -> None:
        self._inner = inner

    async def get_many(self, customer_ids: Iterable[str]) -> dict[str, CustomerSummaryView]:
        """The summaries of the customers that have one."""
        async with _one_read():
            return await self._inner.get_many(customer_ids)


class GatedStreamReader:
    """A StreamReader taking the request's read gate."""

    def __init__(self, inner: StreamReader) -> None:
        self._inner = inner

    async def replay_stream(self, stream_id: str) -> Sequence[RecordedEvent]:
        """The stream's events as stored, oldest first."""
        async with _one_read():
            return await self._inner.replay_stream(stream_id)


def gated_services(services: Services) -> Services:
    """The same services, their request-time reads taking the request's read gate."""

    async def statuses() -> list[ProjectionStatusView]:
        async with _one_read():
            return await services.statuses()

    async def status(name: str) -> ProjectionStatusView | None:
        async with _one_read():
            return await services.status(name)

    return replace(
        services,
        orders=GatedOrderQueries(services.orders),
        customers=GatedCustomerQueries(services.customers),
        store=GatedStreamReader(services.store),
        statuses=statuses,
        status=status,
    )
