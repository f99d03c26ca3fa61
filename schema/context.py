"""The typed context every resolver receives, and the services behind it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from domain.ports import Clock
from projections.consistency import OrderReader, ProjectionWatch
from projections.parking_desk import ParkingDesk
from projections.status import ProjectionStatusView
from schema.loaders import Loaders
from schema.ports import CommandDispatcher, CustomerQueries, OrderQueries, StreamReader
from schema.principal import OPEN, Principal


@dataclass(frozen=True, kw_only=True)
class Services:
    """What resolvers may use: commands go to the bus, reads go to read-model queries (all ports)."""

    commands: CommandDispatcher
    clock: Clock
    store: StreamReader
    orders: OrderQueries
    order_reader: OrderReader
    customers: CustomerQueries
    tracker: ProjectionWatch
    projection_names: tuple[str, ...]
    new_id: Callable[[], str]
    statuses: Callable[[], Awaitable[list[ProjectionStatusView]]]
    status: Callable[[str], Awaitable[ProjectionStatusView | None]]
    parking: ParkingDesk


@dataclass(kw_only=True)
class Context:
    """One HTTP request's context, or one WebSocket connection's (strawberry builds it once per
    connection, so its loaders do not cache across a subscription's results)."""

    services: Services
    loaders: Loaders
    principal: Principal = OPEN
    request: Any = None
    response: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
