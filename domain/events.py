"""Order events: one frozen dataclass per fact, with a stable type name and schema version.

Older stored shapes are upgraded by the upcasters beside each class: a mapping from the
stored schema version to a function that returns the data one version newer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from domain.values import Address, LineItem

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class OrderCreated:
    """An order was placed with its first items."""

    type_name: ClassVar[str] = "order.created"
    schema_version: ClassVar[int] = 1
    upcasters: ClassVar[Mapping[int, Upcaster]] = {}

    order_id: str
    customer_id: str
    items: tuple[LineItem, ...]
    shipping_address: Address
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class OrderItemAdded:
    """An item was added to an open order."""

    type_name: ClassVar[str] = "order.item_added"
    schema_version: ClassVar[int] = 1
    upcasters: ClassVar[Mapping[int, Upcaster]] = {}

    order_id: str
    item: LineItem
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class OrderShipped:
    """The order left the warehouse."""

    type_name: ClassVar[str] = "order.shipped"
    schema_version: ClassVar[int] = 1
    upcasters: ClassVar[Mapping[int, Upcaster]] = {}

    order_id: str
    occurred_at: datetime


def _cancelled_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no reason; such orders were cancelled by support staff."""
    return {**data, "reason": data.get("reason") or "cancelled (no reason recorded)"}


@dataclass(frozen=True, kw_only=True)
class OrderCancelled:
    """The order was cancelled, with the customer's or staff's reason."""

    type_name: ClassVar[str] = "order.cancelled"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[Mapping[int, Upcaster]] = {1: _cancelled_v1_to_v2}

    order_id: str
    reason: str
    occurred_at: datetime


Event = OrderCreated | OrderItemAdded | OrderShipped | OrderCancelled

EVENT_TYPES: Mapping[str, type[Event]] = {
    cls.type_name: cls for cls in (OrderCreated, OrderItemAdded, OrderShipped, OrderCancelled)
}
