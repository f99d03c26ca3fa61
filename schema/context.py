"""The typed context every resolver receives, and the services behind it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from domain.command_bus import CommandBus
from domain.ports import Clock
from eventstore.sql_store import SqlEventStore
from projections.customer_summaries.queries import CustomerSummaryQueries
from projections.consistency import OrderReader
from projections.order_views.queries import OrderViewQueries
from projections.status import ProjectionStatusView
from projections.tracker import ProjectionTracker
from schema.loaders import Loaders


@dataclass(frozen=True, kw_only=True)
class Services:
    """What resolvers may use: commands go to the bus, reads go to read-model queries."""

    commands: CommandBus
    clock: Clock
    store: SqlEventStore
    orders: OrderViewQueries
    order_reader: OrderReader
    customers: CustomerSummaryQueries
    tracker: ProjectionTracker
    projection_names: tuple[str, ...]
    new_id: Callable[[], str]
    statuses: Callable[[], Awaitable[list[ProjectionStatusView]]]
    status: Callable[[str], Awaitable[ProjectionStatusView | None]]


@dataclass(kw_only=True)
class Context:
    """One HTTP request's context, or one WebSocket connection's (strawberry builds it once per
    connection, so its loaders do not cache across a subscription's results)."""

    services: Services
    loaders: Loaders
    request: Any = None
    response: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
