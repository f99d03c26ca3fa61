"""Test data for the read side: recorded events for given-events tests, and commands."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.commands import AddOrderItem, CancelOrder, CreateOrder, ShipOrder
from domain.events import Event, OrderCancelled, OrderCreated, OrderItemAdded, OrderShipped
from domain.ports import RecordedEvent
from domain.values import Address, LineItem
from eventstore.codec import encode

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ADDRESS = Address(line1="1 Main St", line2=None, city="Springfield", postal_code="12345", country="US")


def item(product_id: str = "sku-1", quantity: int = 1, price: str = "10.00") -> LineItem:
    """A line item."""
    return LineItem(product_id=product_id, quantity=quantity, price=Decimal(price))


def new_id(prefix: str) -> str:
    """A random id, so tests never share rows."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class History:
    """Builds RecordedEvents with consecutive global positions and per-stream versions."""

    def __init__(self, start: int = 0) -> None:
        self.events: list[RecordedEvent] = []
        self._position = start
        self._versions: Counter[str] = Counter()

    def record(self, event: Event) -> RecordedEvent:
        """Append one event to the history and return it as the store would."""
        self._position += 1
        self._versions[event.order_id] += 1
        recorded = RecordedEvent(
            event_id=str(uuid.uuid4()),
            stream_id=event.order_id,
            stream_type="order",
            version=self._versions[event.order_id],
            position=self._position,
            type_name=event.type_name,
            schema_version=event.schema_version,
            data=encode(event),
            occurred_at=event.occurred_at,
            recorded_at=event.occurred_at,
            command_id=None,
            event=event,
        )
        self.events.append(recorded)
        return recorded

    def created(
        self,
        order_id: str,
        customer_id: str,
        *items: LineItem,
        at: datetime = T0,
        address: Address = ADDRESS,
    ) -> RecordedEvent:
        """OrderCreated."""
        return self.record(
            OrderCreated(
                order_id=order_id,
                customer_id=customer_id,
                items=items or (item(),),
                shipping_address=address,
                occurred_at=at,
            )
        )

    def added(self, order_id: str, line: LineItem, at: datetime = T0) -> RecordedEvent:
        """OrderItemAdded."""
        return self.record(OrderItemAdded(order_id=order_id, item=line, occurred_at=at))

    def shipped(self, order_id: str, at: datetime = T0 + timedelta(days=1)) -> RecordedEvent:
        """OrderShipped."""
        return self.record(OrderShipped(order_id=order_id, occurred_at=at))

    def cancelled(self, order_id: str, reason: str = "changed my mind", at: datetime = T0) -> RecordedEvent:
        """OrderCancelled."""
        return self.record(OrderCancelled(order_id=order_id, reason=reason, occurred_at=at))


def create_order(
    order_id: str,
    customer_id: str,
    *items: LineItem,
    at: datetime = T0,
    address: Address = ADDRESS,
) -> CreateOrder:
    """A CreateOrder command."""
    return CreateOrder(
        command_id=str(uuid.uuid4()),
        issued_at=at,
        order_id=order_id,
        customer_id=customer_id,
        items=items or (item(),),
        shipping_address=address,
    )


def add_item(order_id: str, line: LineItem, at: datetime = T0) -> AddOrderItem:
    """An AddOrderItem command."""
    return AddOrderItem(command_id=str(uuid.uuid4()), issued_at=at, order_id=order_id, item=line)


def ship_order(order_id: str, at: datetime = T0 + timedelta(days=1)) -> ShipOrder:
    """A ShipOrder command."""
    return ShipOrder(command_id=str(uuid.uuid4()), issued_at=at, order_id=order_id)


def cancel_order(order_id: str, reason: str = "changed my mind", at: datetime = T0) -> CancelOrder:
    """A CancelOrder command."""
    return CancelOrder(command_id=str(uuid.uuid4()), issued_at=at, order_id=order_id, reason=reason)
