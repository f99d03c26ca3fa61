"""Order commands: imperative, each with a command id, the time the clock gave it and its issuer (None: auth off)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.issuers import Issuer
from domain.values import Address, LineItem


@dataclass(frozen=True, kw_only=True)
class CreateOrder:
    """Place a new order."""

    command_id: str
    issued_at: datetime
    order_id: str
    customer_id: str
    items: tuple[LineItem, ...]
    shipping_address: Address
    issuer: Issuer | None = None


@dataclass(frozen=True, kw_only=True)
class AddOrderItem:
    """Add an item to an open order."""

    command_id: str
    issued_at: datetime
    order_id: str
    item: LineItem
    expected_version: int | None = None
    issuer: Issuer | None = None


@dataclass(frozen=True, kw_only=True)
class ShipOrder:
    """Ship an open order."""

    command_id: str
    issued_at: datetime
    order_id: str
    expected_version: int | None = None
    issuer: Issuer | None = None


@dataclass(frozen=True, kw_only=True)
class CancelOrder:
    """Cancel an open order, giving a reason."""

    command_id: str
    issued_at: datetime
    order_id: str
    reason: str
    expected_version: int | None = None
    issuer: Issuer | None = None


Command = CreateOrder | AddOrderItem | ShipOrder | CancelOrder
