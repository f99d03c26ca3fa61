"""Turns domain events into JSON-safe data and back, upcasting older schema versions.

Decimals travel as strings and datetimes as ISO 8601 text, so money never passes through
a float and a stored event reads back equal to the one written.

Decoding takes msgspec's `convert` first (C code building the frozen dataclasses: about a
third of the time of the generic decoder below, which was some 40 % of a projector's
catch-up in py-spy). Whatever msgspec refuses (a missing optional field, a value of the
wrong JSON type, a date in a form that is not RFC 3339...) goes through the generic decoder,
which keeps deciding what is readable and what the error says. On data this codec writes
the two agree (tests/eventstore/test_codec_fast_path.py compares them on generated events);
they differ only on data it never writes: a JSON number where a Decimal belongs becomes the
number as written (0.1, not the float's binary expansion), and more than six digits of a
second are rounded, not cut.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Hashable
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, cast

import msgspec
import orjson

from domain.events import EVENT_TYPES, Event
from domain.ports import UnreadableEvent


class UnknownEventTypeError(Exception):
    """A stored event names a type this code does not know, or a schema version newer than it knows."""


# What a stored event's data that does not fit its class raises while it is decoded (the
# field decoders: Decimal raises InvalidOperation, an ArithmeticError; data that is not an
# object has no .get). Anything else is a bug in this code, not in the stored event.
_UNDECODABLE = (UnknownEventTypeError, KeyError, TypeError, ValueError, AttributeError, ArithmeticError)


def encode(event: Event) -> dict[str, Any]:
    """The event's fields as JSON-safe data."""
    data: dict[str, Any] = _encode_value(event)
    return data


def decode(type_name: str, schema_version: int, data: dict[str, Any]) -> Event:
    """Rebuild an event from stored data, upgrading it to the current schema version."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise UnknownEventTypeError(f"unknown event type {type_name!r}")
    if schema_version > cls.schema_version:
        raise UnknownEventTypeError(f"event type {type_name!r} has no schema version {schema_version} here")
    for version in range(schema_version, cls.schema_version):
        data = cls.upcasters[version](data)
    try:
        return msgspec.convert(data, cls)
    except msgspec.ValidationError:
        pass  # the generic decoder decides: it reads what it can, and says why it cannot
    event: Event = _decoder(cast(Hashable, cls))(data)
    return event


def decode_or_unreadable(type_name: str, schema_version: int, data: dict[str, Any]) -> Event | UnreadableEvent:
    """decode, but an event this code cannot decode comes back as an UnreadableEvent saying why.

    The reason names the error and its message only (never the stored data as a whole):
    it is shown to admins with the parked stream.
    """
    try:
        return decode(type_name, schema_version, data)
    except _UNDECODABLE as error:
        return UnreadableEvent(type_name=type_name, schema_version=schema_version, reason=f"{type(error).__name__}: {error}")


def decode_json_or_unreadable(type_name: str, schema_version: int, text: str | bytes) -> Event | UnreadableEvent:
    """decode_or_unreadable of stored JSON text: msgspec decodes an event of the current schema version
    straight from the text (no dict in between: about 4 us an event where the dict and convert take 9);
    anything else, or anything msgspec refuses, is parsed and goes through decode_or_unreadable."""
    cls = EVENT_TYPES.get(type_name)
    if cls is not None and schema_version == cls.schema_version:
        try:
            event: Event = _json_decoder(cast(Hashable, cls)).decode(text)
            return event
        except msgspec.DecodeError:  # its ValidationError too
            pass
    return decode_or_unreadable(type_name, schema_version, orjson.loads(text))


@cache
def _json_decoder(cls: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(cls)


_AS_IS = frozenset({str, int, bool, type(None)})  # JSON as they stand: most of an event's values


def _encode_value(value: Any) -> Any:
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is Decimal:
        return str(value)
    if kind is datetime:
        return value.isoformat()
    if kind is tuple or kind is list:
        return [_encode_value(item) for item in value]
    if dataclasses.is_dataclass(kind):
        return _field_encoder(kind)(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode_value(item) for item in value]
    return value


@cache
def _field_encoder(cls: type) -> Callable[[Any], dict[str, Any]]:
    """A dataclass's encoder with its field names looked up once (encode runs on every append)."""
    names = tuple(field.name for field in dataclasses.fields(cls))

    def encode_fields(value: Any) -> dict[str, Any]:
        return {name: _encode_value(getattr(value, name)) for name in names}

    return encode_fields


Decoder = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


@cache
def _decoder(hint: Any) -> Decoder:
    """A decoding function for one type hint, built once (decode runs for every stored event)."""
    origin = typing.get_origin(hint)
    convert: Decoder
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        convert = _decoder(inner[0])
    elif origin is tuple:
        item = _decoder(typing.get_args(hint)[0])

        def convert(value: Any) -> Any:
            return tuple(item(element) for element in value)

    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields = [(field.name, _decoder(hints[field.name])) for field in dataclasses.fields(hint) if field.init]
        required = frozenset(field.name for field in dataclasses.fields(hint) if field.init and not _optional(hints[field.name]))
        cls = hint

        def convert(value: Any) -> Any:
            if not required <= value.keys():
                raise ValueError(f"{cls.__name__} data lacks {', '.join(sorted(required - value.keys()))}")
            return cls(**{name: decode_field(value.get(name)) for name, decode_field in fields})

    elif hint is Decimal:
        convert = Decimal
    elif hint is datetime:
        convert = datetime.fromisoformat
    else:
        convert = _identity

    def decode_or_none(value: Any) -> Any:
        return None if value is None else convert(value)

    return decode_or_none


def _optional(hint: Any) -> bool:
    """Whether None is a value of the hint (such a field may be missing from stored data)."""
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
