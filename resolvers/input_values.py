"""The one place every argument passes before its resolver runs: text checks and canonical ids.

By the time a field's arguments are built, the scalars (schema/scalars.py) have parsed
Decimal, DateTime and Position strictly and GraphQL has checked types, enums and Int
ranges. `ValidInput`, attached to every root field, then walks all the arguments, at the
top level, inside input objects and inside lists, before the resolver (and so before any
I/O) runs:

- every string: no NUL (PostgreSQL refuses it in text, SQLite keeps it, and the two must
  answer alike) and no unpaired surrogate (no store can encode it);
- every identifier, known by its name wherever it appears: 1 to 100 characters, not
  blank; an order id shaped as a UUID is lower-cased, the one spelling order ids are
  created, stored and compared in.

A value that fails is BAD_USER_INPUT, its message naming the argument's path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from strawberry.extensions import FieldExtension

from domain.limits import MAX_ID_LENGTH, check_characters, check_text

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE)


def is_uuid(value: str) -> bool:
    """Whether the value is a UUID in its hyphenated hex spelling, in either case."""
    return _UUID.fullmatch(value) is not None


def identifier(path: str, value: str) -> str:
    """An id: 1 to MAX_ID_LENGTH storable characters, not blank; kept as given."""
    check_text(path, value, limit=MAX_ID_LENGTH)
    return value


def order_id(path: str, value: str) -> str:
    """An order id; a UUID-shaped one in lower case, as orders are created with."""
    identifier(path, value)
    return value.lower() if is_uuid(value) else value


IDENTIFIERS: dict[str, Callable[[str, str], str]] = {
    "order_id": order_id,
    "customer_id": identifier,
    "product_id": identifier,
    "command_id": identifier,
}


def canonical(path: str, name: str, value: Any) -> Any:
    """The value checked and in canonical form (input objects are updated in place)."""
    if isinstance(value, str):
        rule = IDENTIFIERS.get(name)
        if rule is not None:
            return rule(path, value)
        check_characters(path, value)
        return value
    if isinstance(value, list):
        return [canonical(f"{path}[{index}]", name, item) for index, item in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field_name, client_name in _input_fields(type(value)):
            inner = getattr(value, field_name)
            if inner is None or type(inner) is int:
                continue  # nothing to check: a null, a number
            setattr(value, field_name, canonical(f"{path}.{client_name}", field_name, inner))
    return value


@cache
def _input_fields(cls: type) -> tuple[tuple[str, str], ...]:
    """An input class's fields: (Python name, the name the client wrote)."""
    return tuple((field.name, graphql_name(field.name)) for field in dataclasses.fields(cls))


@cache
def graphql_name(python_name: str) -> str:
    """The argument's name as the client wrote it ("postal_code" is "postalCode")."""
    head, *rest = python_name.split("_")
    return head + "".join(word.capitalize() for word in rest)


class ValidInput(FieldExtension):
    """Checks and canonicalises a field's arguments before its resolver runs."""

    def map_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Every argument checked, identifiers in canonical form."""
        return {name: canonical(graphql_name(name), name, value) for name, value in kwargs.items()}
