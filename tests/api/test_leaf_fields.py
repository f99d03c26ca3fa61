"""The leaf-field executor gives exactly what strawberry's own executor gives, errors included."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import pytest
import strawberry

from resolvers.graphql_schema import build_schema
from resolvers.leaf_fields import LeafFieldExecutionContext, plain_leaf


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.type
class Line:
    name: str
    amount: Decimal
    count: int
    memo: str | None = None


class Broken:
    """A source whose attributes fail in the two ways a plain read can."""

    name = "broken"

    @property
    def amount(self) -> Decimal:
        raise RuntimeError("amount is broken")


@strawberry.type
class Thing:
    label: str
    colour: Colour
    note: str | None
    required: str  # set to None below: a non-null violation
    wrong_count: int  # set to a string below: fails to serialize
    lines: list[Line]

    @strawberry.field
    def shout(self) -> str:
        return self.label.upper()


@strawberry.type
class Query:
    @strawberry.field
    def thing(self) -> Thing:
        return Thing(
            label="a", colour=Colour.BLUE, note=None, required=None,  # type: ignore[arg-type]
            wrong_count="x",  # type: ignore[arg-type]
            lines=[Line(name="n1", amount=Decimal("1.50"), count=2), Line(name="n2", amount=Decimal("0"), count=0)],
        )

    @strawberry.field
    async def things(self) -> list[Thing | None]:
        return [self.thing(), None]

    @strawberry.field
    def broken_lines(self) -> list[Line | None]:
        # amount raises; count and memo (nullable) are missing
        return [Broken()]  # type: ignore[list-item]


QUERIES = [
    "{ thing { label colour note shout lines { name amount count } } }",
    "{ thing { label required } }",
    "{ thing { label wrongCount } }",
    "{ things { label lines { amount } } }",
    "{ thing { l: label l2: label lines { ... on Line { count } } } }",
    "{ brokenLines { name amount } }",
    "{ brokenLines { name count } }",
    "{ brokenLines { name memo } }",
]


def _schema(fast: bool) -> strawberry.Schema:
    options: dict[str, Any] = {"execution_context_class": LeafFieldExecutionContext} if fast else {}
    return strawberry.Schema(query=Query, **options)


@pytest.mark.parametrize("query", QUERIES)
async def test_same_data_and_errors_as_the_generic_executor(query: str) -> None:
    generic = await _schema(fast=False).execute(query)
    fast = await _schema(fast=True).execute(query)
    assert fast.data == generic.data
    assert [(e.message, e.path) for e in fast.errors or []] == [(e.message, e.path) for e in generic.errors or []]


def test_only_plain_attribute_leaves_take_the_short_road() -> None:
    schema = _schema(fast=True)._schema
    thing = schema.type_map["Thing"]
    line = schema.type_map["Line"]
    assert plain_leaf(thing.fields["label"]) is not None
    assert plain_leaf(thing.fields["colour"]) is not None
    assert plain_leaf(line.fields["amount"]) is not None
    assert plain_leaf(thing.fields["shout"]) is None  # has a resolver
    assert plain_leaf(thing.fields["lines"]) is None  # not a leaf


def test_the_served_schema_uses_it() -> None:
    assert issubclass(build_schema().execution_context_class, LeafFieldExecutionContext)
