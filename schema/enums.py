"""The contract's enums: strawberry's view of the classes the lower layers define.

Each class is defined once, where it is first needed, and registered here as a GraphQL
enum (names as the contract spells them); the values stay the lower layers' own.
"""

from __future__ import annotations

import strawberry

from domain.values import OrderStatus
from projections.checkpoints import ProjectionState
from projections.order_views.queries import OrderSortField, SortOrder
from projections.parked_streams import ParkingRequest

strawberry.enum(OrderStatus)
strawberry.enum(OrderSortField)
strawberry.enum(SortOrder)
strawberry.enum(ProjectionState)
strawberry.enum(ParkingRequest, description="What an operator asked the projector to do with a parked stream.")

__all__ = ["OrderSortField", "OrderStatus", "ParkingRequest", "ProjectionState", "SortOrder"]
