"""Scalars the contract names beyond strawberry's built-ins (Decimal, DateTime, JSON)."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

MAX_POSITION = 2**53 - 1


def parse_position(value: object) -> int:
    """A global position: a whole JSON number from 0 to 2^53 - 1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"Position must be a whole number, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"Position must be a whole number, got {value!r}")
        value = int(value)
    if not 0 <= value <= MAX_POSITION:
        raise ValueError(f"Position must be between 0 and {MAX_POSITION}, got {value}")
    return value


Position = NewType("Position", int)

POSITION_SCALAR = strawberry.scalar(
    name="Position",
    description=(
        "A global position in the event store's log: a JSON number from 0 to 2^53 - 1. "
        "The first event is at 1; 0 means before any event."
    ),
    serialize=int,
    parse_value=parse_position,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {Position: POSITION_SCALAR}
