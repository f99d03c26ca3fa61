"""The contract's input types."""

from __future__ import annotations

import datetime
from decimal import Decimal

import strawberry

from domain.values import Address
from schema.enums import OrderStatus


@strawberry.input
class OrderItemInput:
    """One product line."""

    product_id: str
    quantity: int = strawberry.field(description="At least 1.")
    price: Decimal = strawberry.field(description="Zero or more.")


@strawberry.input
class AddressInput:
    """A shipping address."""

    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str

    def to_address(self) -> Address:
        """The domain's address (GraphQL needs an input type of its own; the domain has one shape)."""
        return Address(line1=self.line1, line2=self.line2, city=self.city, postal_code=self.postal_code, country=self.country)


@strawberry.input
class CreateOrderInput:
    """Place an order."""

    order_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Optional client-chosen id (a UUID); the server makes one when absent.",
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Required, except that a customer may leave out its own id (with auth on).",
    )
    items: list[OrderItemInput] = strawberry.field(description="At least one item.")
    shipping_address: AddressInput
    command_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "Idempotency key: repeating a command with the same commandId returns the first "
            "result and writes nothing; reusing it for a different command is BAD_USER_INPUT. "
            "A commandId is generated when absent. An orderId that already exists is "
            "CONCURRENCY_CONFLICT."
        ),
    )


@strawberry.input
class AddOrderItemInput:
    """Add an item to an open order."""

    order_id: strawberry.ID
    product_id: str
    quantity: int
    price: Decimal
    expected_version: int | None = strawberry.field(
        default=None,
        description=("When given, the command is rejected with CONCURRENCY_CONFLICT unless the order stream is at this version."),
    )
    command_id: strawberry.ID | None = None


@strawberry.input
class ShipOrderInput:
    """Ship an open order."""

    order_id: strawberry.ID
    expected_version: int | None = None
    command_id: strawberry.ID | None = None


@strawberry.input
class CancelOrderInput:
    """Cancel an open order."""

    order_id: strawberry.ID
    reason: str
    expected_version: int | None = None
    command_id: strawberry.ID | None = None


@strawberry.input
class OrderFilter:
    """searchOrders filters; bounds are inclusive."""

    status: OrderStatus | None = None
    customer_id: strawberry.ID | None = None
    min_total: Decimal | None = strawberry.field(default=None, description="Bounds are inclusive.")
    max_total: Decimal | None = None
    created_after: datetime.datetime | None = None
    created_before: datetime.datetime | None = None
