"""Given events, when a command, then events or an error: the Order decider as tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.commands import AddOrderItem, CancelOrder, Command, CreateOrder, ShipOrder
from domain.decider import decide, fold
from domain.errors import (
    ConcurrencyConflictError,
    DomainError,
    InvalidInputError,
    InvalidStateError,
    OrderNotFoundError,
)
from domain.events import Event, OrderCancelled, OrderCreated, OrderItemAdded, OrderShipped
from domain.limits import MAX_ITEMS_PER_ORDER
from domain.values import Address, LineItem, OrderStatus

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
ADDRESS = Address(line1="1 Main St", line2=None, city="Springfield", postal_code="12345", country="US")
ITEM = LineItem(product_id="sku-1", quantity=2, price=Decimal("19.99"))


def create(**changes: object) -> CreateOrder:
    command = CreateOrder(
        command_id="c1", issued_at=T0, order_id="o1", customer_id="cust-1", items=(ITEM,), shipping_address=ADDRESS
    )
    return replace(command, **changes)  # type: ignore[arg-type]


CREATED = OrderCreated(order_id="o1", customer_id="cust-1", items=(ITEM,), shipping_address=ADDRESS, occurred_at=T0)
SHIPPED = OrderShipped(order_id="o1", occurred_at=T1)
CANCELLED = OrderCancelled(order_id="o1", reason="changed my mind", occurred_at=T1)
NEW_ITEM = LineItem(product_id="sku-2", quantity=1, price=Decimal("0"))

ACCEPTED: list[tuple[str, list[Event], Command, list[Event]]] = [
    ("create", [], create(), [CREATED]),
    (
        "add item",
        [CREATED],
        AddOrderItem(command_id="c2", issued_at=T1, order_id="o1", item=NEW_ITEM),
        [OrderItemAdded(order_id="o1", item=NEW_ITEM, occurred_at=T1)],
    ),
    ("ship", [CREATED], ShipOrder(command_id="c3", issued_at=T1, order_id="o1"), [SHIPPED]),
    (
        "cancel trims the reason",
        [CREATED],
        CancelOrder(command_id="c4", issued_at=T1, order_id="o1", reason="  changed my mind "),
        [CANCELLED],
    ),
]


@pytest.mark.parametrize(("name", "given", "command", "expected"), ACCEPTED, ids=[row[0] for row in ACCEPTED])
def test_accepted_commands(name: str, given: list[Event], command: Command, expected: list[Event]) -> None:
    assert decide(command, fold(given)) == expected


def add(item: LineItem) -> AddOrderItem:
    return AddOrderItem(command_id="c", issued_at=T1, order_id="o1", item=item)


def ship() -> ShipOrder:
    return ShipOrder(command_id="c", issued_at=T1, order_id="o1")


def cancel(reason: str) -> CancelOrder:
    return CancelOrder(command_id="c", issued_at=T1, order_id="o1", reason=reason)


REJECTED: list[tuple[str, list[Event], Command, type[DomainError], str]] = [
    ("no items", [], create(items=()), InvalidInputError, "at least one item"),
    ("quantity 0", [], create(items=(replace(ITEM, quantity=0),)), InvalidInputError, "quantity must be at least 1"),
    ("negative price", [], create(items=(replace(ITEM, price=Decimal("-0.01")),)), InvalidInputError, "zero or more"),
    ("price NaN", [], create(items=(replace(ITEM, price=Decimal("NaN")),)), InvalidInputError, "finite"),
    ("5 decimals", [], create(items=(replace(ITEM, price=Decimal("1.00001")),)), InvalidInputError, "decimal places"),
    ("empty product", [], create(items=(replace(ITEM, product_id=" "),)), InvalidInputError, "productId"),
    ("too many items", [], create(items=(ITEM,) * (MAX_ITEMS_PER_ORDER + 1)), InvalidInputError, "at most"),
    ("long city", [], create(shipping_address=replace(ADDRESS, city="x" * 201)), InvalidInputError, "city"),
    ("blank customer", [], create(customer_id=""), InvalidInputError, "customerId"),
    ("create twice", [CREATED], create(), ConcurrencyConflictError, "expected 0"),
    ("add to unknown", [], add(NEW_ITEM), OrderNotFoundError, "does not exist"),
    ("add to shipped", [CREATED, SHIPPED], add(NEW_ITEM), InvalidStateError, "shipped"),
    ("add to cancelled", [CREATED, CANCELLED], add(NEW_ITEM), InvalidStateError, "cancelled"),
    ("add bad quantity", [CREATED], add(replace(NEW_ITEM, quantity=-1)), InvalidInputError, "quantity"),
    ("ship unknown", [], ship(), OrderNotFoundError, "o1"),
    ("ship cancelled", [CREATED, CANCELLED], ship(), InvalidStateError, "cancelled"),
    ("ship twice", [CREATED, SHIPPED], ship(), InvalidStateError, "shipped"),
    ("cancel shipped", [CREATED, SHIPPED], cancel("late"), InvalidStateError, "shipped"),
    ("cancel without reason", [CREATED], cancel("  "), InvalidInputError, "reason"),
    ("cancel unknown", [], cancel("x"), OrderNotFoundError, "o1"),
]


@pytest.mark.parametrize(
    ("name", "given", "command", "error", "message"), REJECTED, ids=[row[0] for row in REJECTED]
)
def test_rejected_commands(
    name: str, given: list[Event], command: Command, error: type[DomainError], message: str
) -> None:
    with pytest.raises(error, match=message):
        decide(command, fold(given))


def test_fold_tracks_version_status_and_items() -> None:
    state = fold([CREATED, OrderItemAdded(order_id="o1", item=NEW_ITEM, occurred_at=T1), SHIPPED])
    assert (state.version, state.status, state.item_count) == (3, OrderStatus.SHIPPED, 2)


def test_item_limit_counts_added_items() -> None:
    history: list[Event] = [CREATED] + [
        OrderItemAdded(order_id="o1", item=NEW_ITEM, occurred_at=T1) for _ in range(MAX_ITEMS_PER_ORDER - 1)
    ]
    with pytest.raises(InvalidInputError, match="at most"):
        decide(add(NEW_ITEM), fold(history))
