"""The contract's enums."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class OrderStatus(Enum):
    """Where an order is in its life."""

    CREATED = "CREATED"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


@strawberry.enum
class OrderSortField(Enum):
    """What searchOrders may sort by (a whitelist)."""

    CREATED_AT = "created_at"
    TOTAL_AMOUNT = "total_amount"
    ITEM_COUNT = "item_count"


@strawberry.enum
class SortOrder(Enum):
    """Ascending or descending."""

    ASC = "asc"
    DESC = "desc"


@strawberry.enum
class ProjectionState(Enum):
    """What a projection runner is doing."""

    RUNNING = "RUNNING"
    CATCHING_UP = "CATCHING_UP"
    REBUILDING = "REBUILDING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
