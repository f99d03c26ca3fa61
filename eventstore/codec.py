"""Turns domain events into JSON-safe data and back, upcasting older schema versions.

Decimals travel as strings and datetimes as ISO 8601 text, so money never passes through
a float and a stored event reads back equal to the one written.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from domain.events import EVENT_TYPES, Event


class UnknownEventTypeError(Exception):
    """A stored event names a type this code does not know."""


def encode(event: Event) -> dict[str, Any]:
    """The event's fields as JSON-safe data."""
    return _encode_value(event)


def decode(type_name: str, schema_version: int, data: dict[str, Any]) -> Event:
    """Rebuild an event from stored data, upgrading it to the current schema version."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise UnknownEventTypeError(f"unknown event type {type_name!r}")
    for version in range(schema_version, cls.schema_version):
        data = cls.upcasters[version](data)
    return _decode_value(cls, data)


def _encode_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _encode_value(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode_value(item) for item in value]
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode_value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _decode_value(inner[0], value)
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        return tuple(_decode_value(item_hint, item) for item in value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        return hint(**{
            field.name: _decode_value(hints[field.name], value.get(field.name))
            for field in dataclasses.fields(hint)
            if field.init
        })
    if hint is Decimal:
        return Decimal(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    return value
