"""Value objects and the order status, shared by commands, events, state and the read side."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class OrderStatus(StrEnum):
    """Where an order is in its life; the contract's OrderStatus."""

    CREATED = "CREATED"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, kw_only=True)
class LineItem:
    """One product line of an order; money is always a Decimal."""

    product_id: str
    quantity: int
    price: Decimal

    @property
    def line_total(self) -> Decimal:
        """quantity * price."""
        return self.price * self.quantity


@dataclass(frozen=True, kw_only=True)
class Address:
    """A shipping address."""

    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str
