"""The Order decider: a frozen state, evolve(state, event) and decide(command, state)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from domain.commands import AddOrderItem, CancelOrder, Command, CreateOrder, ShipOrder
from domain.errors import ConcurrencyConflictError, InvalidInputError, InvalidStateError, OrderNotFoundError
from domain.events import Event, OrderCancelled, OrderCreated, OrderItemAdded, OrderShipped
from domain.issuers import Issuer, may_touch
from domain.limits import (
    MAX_ID_LENGTH,
    MAX_ITEMS_PER_ORDER,
    MAX_REASON_LENGTH,
    check_address,
    check_item,
    check_text,
)
from domain.values import OrderStatus


@dataclass(frozen=True, kw_only=True)
class OrderState:
    """What the decider needs to know about one order stream."""

    exists: bool = False
    customer_id: str | None = None
    status: OrderStatus | None = None
    item_count: int = 0
    version: int = 0


INITIAL_STATE = OrderState()


def evolve(state: OrderState, event: Event) -> OrderState:
    """Apply one event to the state."""
    version = state.version + 1
    match event:
        case OrderCreated():
            return OrderState(
                exists=True,
                customer_id=event.customer_id,
                status=OrderStatus.CREATED,
                item_count=len(event.items),
                version=version,
            )
        case OrderItemAdded():
            return replace(state, item_count=state.item_count + 1, version=version)
        case OrderShipped():
            return replace(state, status=OrderStatus.SHIPPED, version=version)
        case OrderCancelled():
            return replace(state, status=OrderStatus.CANCELLED, version=version)
    raise TypeError(f"unknown event {event!r}")


def fold(events: Iterable[Event], state: OrderState = INITIAL_STATE) -> OrderState:
    """Apply events in order."""
    for event in events:
        state = evolve(state, event)
    return state


def as_seen_by(issuer: Issuer | None, state: OrderState) -> OrderState:
    """The state as the issuer may see it: another customer's order is no order at all (version 0)."""
    return state if not state.exists or may_touch(issuer, state.customer_id) else INITIAL_STATE


def decide(command: Command, state: OrderState) -> list[Event]:
    """The events a command causes, or a typed domain error."""
    match command:
        case CreateOrder():
            return _create(command, state)
        case AddOrderItem():
            return _add_item(command, state)
        case ShipOrder():
            return _ship(command, state)
        case CancelOrder():
            return _cancel(command, state)
    raise TypeError(f"unknown command {command!r}")


def _create(command: CreateOrder, state: OrderState) -> list[Event]:
    check_text("orderId", command.order_id, limit=MAX_ID_LENGTH)
    check_text("customerId", command.customer_id, limit=MAX_ID_LENGTH)
    if not command.items:
        raise InvalidInputError("an order needs at least one item")
    if len(command.items) > MAX_ITEMS_PER_ORDER:
        raise InvalidInputError(f"an order has at most {MAX_ITEMS_PER_ORDER} items")
    for index, item in enumerate(command.items):
        check_item(item, f"items[{index}]")
    check_address(command.shipping_address)
    # An existing stream is caught by the store as a version conflict; checking here too
    # gives the same answer earlier.
    if state.exists:
        raise ConcurrencyConflictError(command.order_id, expected=0, actual=state.version)
    return [
        OrderCreated(
            order_id=command.order_id,
            customer_id=command.customer_id,
            items=command.items,
            shipping_address=command.shipping_address,
            occurred_at=command.issued_at,
        )
    ]


def _require_open(state: OrderState, order_id: str, action: str) -> None:
    if not state.exists:
        raise OrderNotFoundError(order_id)
    if state.status is not OrderStatus.CREATED:
        assert state.status is not None
        raise InvalidStateError(f"cannot {action} an order that is {state.status.value.lower()}")


def _add_item(command: AddOrderItem, state: OrderState) -> list[Event]:
    check_item(command.item)
    _require_open(state, command.order_id, "add items to")
    if state.item_count >= MAX_ITEMS_PER_ORDER:
        raise InvalidInputError(f"an order has at most {MAX_ITEMS_PER_ORDER} items")
    return [OrderItemAdded(order_id=command.order_id, item=command.item, occurred_at=command.issued_at)]


def _ship(command: ShipOrder, state: OrderState) -> list[Event]:
    _require_open(state, command.order_id, "ship")
    return [OrderShipped(order_id=command.order_id, occurred_at=command.issued_at)]


def _cancel(command: CancelOrder, state: OrderState) -> list[Event]:
    check_text("reason", command.reason, limit=MAX_REASON_LENGTH)
    _require_open(state, command.order_id, "cancel")
    return [OrderCancelled(order_id=command.order_id, reason=command.reason.strip(), occurred_at=command.issued_at)]
