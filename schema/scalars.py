"""Scalars the contract names beyond strawberry's built-ins (Decimal, DateTime, Position).

Each parser is strict: one ASCII spelling, checked before any resolver runs. A value it
refuses (a ValueError) reaches the client as BAD_USER_INPUT, whether it came as a
variable or as a literal in the document.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

MAX_POSITION = 2**53 - 1
# Longer than any amount the domain allows (MAX_PRICE with four places is 15 characters)
# or a total can reach, short enough that no caller does arithmetic on a giant number.
MAX_DECIMAL_LENGTH = 40

_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
# RFC 3339's profile of ISO 8601: date, "T", hours and minutes, optional seconds and
# fraction, and an offset that is required ("Z" or ±hh:mm).
_DATETIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?)?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<offset_hours>[0-9]{2}):(?P<offset_minutes>[0-9]{2}))",
    re.ASCII,
)


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


def parse_decimal(value: object) -> Decimal:
    """A decimal string: optional minus, ASCII digits, optional fraction; -0 becomes 0."""
    if not isinstance(value, str):
        raise ValueError(f'Decimal must be a string such as "19.99", got {value!r}')
    if len(value) > MAX_DECIMAL_LENGTH:
        raise ValueError(f"Decimal must be at most {MAX_DECIMAL_LENGTH} characters")
    if not _DECIMAL.fullmatch(value):
        raise ValueError(f'Decimal must be digits with an optional "-" and fraction, such as "19.99", got {value!r}')
    amount = Decimal(value)
    return amount.copy_abs() if amount.is_zero() else amount


def parse_datetime(value: object) -> datetime.datetime:
    """An ISO 8601 date-time with a UTC offset, as an aware datetime in UTC."""
    if not isinstance(value, str):
        raise ValueError(f'DateTime must be a string such as "2024-01-31T12:00:00Z", got {value!r}')
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise ValueError(
            f'DateTime must be an ISO 8601 date-time with a UTC offset, such as "2024-01-31T12:00:00Z", got {value!r}'
        )
    part = match.groupdict()
    try:
        if part["utc"]:
            zone = datetime.UTC
        else:
            if int(part["offset_minutes"]) > 59:
                raise ValueError("offset minutes out of range")
            offset = datetime.timedelta(hours=int(part["offset_hours"]), minutes=int(part["offset_minutes"]))
            zone = datetime.timezone(-offset if part["sign"] == "-" else offset)
        moment = datetime.datetime(
            int(part["year"]),
            int(part["month"]),
            int(part["day"]),
            int(part["hour"]),
            int(part["minute"]),
            int(part["second"] or 0),
            int((part["fraction"] or "").ljust(6, "0")[:6]),
            tzinfo=zone,
        )
        return moment.astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"DateTime {value!r} is not a valid date and time") from None


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

DECIMAL_SCALAR = strawberry.scalar(
    name="Decimal",
    description='Money as a decimal string, e.g. "19.99". Never a float.',
    serialize=str,
    parse_value=parse_decimal,
)

DATETIME_SCALAR = strawberry.scalar(
    name="DateTime",
    description="ISO 8601 date-time with a UTC offset.",
    serialize=datetime.datetime.isoformat,
    parse_value=parse_datetime,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {
    Position: POSITION_SCALAR,
    Decimal: DECIMAL_SCALAR,
    datetime.datetime: DATETIME_SCALAR,
}
