"""Compiled renderers on sources that break the rules: whenever a renderer gives up, graphql-core's
answer (data, errors, paths) is what the client gets, exactly as without compilation."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from graphql import ExecutionResult, execute, parse

from resolvers.compiled_objects import CompiledExecutionContext, use_document
from resolvers.document_cache import DocumentCache
from resolvers.leaf_fields import LeafFieldExecutionContext


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


@strawberry.type
class Thing:
    label: str
    colour: Colour
    note: str | None
    count: int
    lines: list[Line]
    maybe_lines: list[Line | None] | None

    @strawberry.field
    def shout(self) -> str:
        return self.label.upper()


class Raising:
    """A source whose `amount` raises."""

    name = "raising"
    count = 1
    memo = None

    @property
    def amount(self) -> Decimal:
        raise RuntimeError("amount is broken")


def _thing(**changes: Any) -> Thing:
    values: dict[str, Any] = {
        "label": "a", "colour": Colour.BLUE, "note": None, "count": 3,
        "lines": [Line(name="n1", amount=Decimal("1.50"), count=2), Line(name="n2", amount=Decimal("0"), count=0)],
        "maybe_lines": [None, Line(name="n3", amount=Decimal("2"), count=1, memo="m")],
    }
    values.update(changes)
    thing = Thing.__new__(Thing)
    thing.__dict__.update(values)  # no checks: the fields hold what the test puts there
    return thing


SOURCES: dict[str, Any] = {
    "plain": _thing(),
    "null label": _thing(label=None),
    "count too big": _thing(count=2**40),
    "count as text": _thing(count="x"),
    "count as bool": _thing(count=True),
    "colour as text": _thing(colour="BLUE"),
    "colour unknown": _thing(colour="GREEN"),
    "lines as tuple": _thing(lines=tuple(_thing().lines)),
    "lines with null": _thing(lines=[None]),
    "raising line": _thing(lines=[Raising()]),
    "label as number": _thing(label=7),
    "no maybe lines": _thing(maybe_lines=None),
}
QUERIES = [
    "{ thing { label colour note count __typename lines { name amount count memo } maybeLines { name memo } } }",
    "{ thing { l: label l2: label lines { ... on Line { count } ...L } } } fragment L on Line { n: name amount }",
    "query Q($skip: Boolean!) { thing { label @skip(if: $skip) count @include(if: $skip) lines { name } } }",
    "{ thing { label shout } }",  # a resolver: not compiled, same answer
]


def _result(query: str, source: Any, compiled: bool) -> ExecutionResult:
    @strawberry.type
    class Query:
        @strawberry.field
        def thing(self) -> Thing:
            return source  # type: ignore[no-any-return]

    schema = strawberry.Schema(query=Query)._schema
    entry = DocumentCache(max_entry_bytes=10_000, max_total_bytes=100_000).put(query, parse(query), len(query))
    use_document(entry if compiled else None)
    result = execute(
        schema,
        entry.document if entry is not None else parse(query),
        variable_values={"skip": True},
        executor_class=CompiledExecutionContext if compiled else LeafFieldExecutionContext,
    )
    assert isinstance(result, ExecutionResult)
    return result


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("source", SOURCES)
def test_a_renderer_answers_exactly_as_graphql_core(query: str, source: str) -> None:
    generic = _result(query, SOURCES[source], compiled=False)
    compiled = _result(query, SOURCES[source], compiled=True)
    assert compiled.data == generic.data
    assert [error.formatted for error in compiled.errors or []] == [error.formatted for error in generic.errors or []]


def test_a_plain_source_is_rendered_and_a_broken_one_is_not() -> None:
    before = CompiledExecutionContext.compiled_objects
    _result(QUERIES[0], SOURCES["plain"], compiled=True)
    assert CompiledExecutionContext.compiled_objects == before + 1
    _result(QUERIES[0], SOURCES["count as text"], compiled=True)
    assert CompiledExecutionContext.compiled_objects == before + 1
    _result(QUERIES[3], SOURCES["plain"], compiled=True)  # a field with a resolver
    assert CompiledExecutionContext.compiled_objects == before + 1


async def test_the_compiled_road_takes_only_known_valid_queries_with_an_object_of_variables() -> None:
    from resolvers.compiled_operations import CompiledOperations
    from resolvers.graphql_schema import build_schema

    schema = build_schema()
    assert await schema.execute_compiled("{ __typename }", None, None, None, None) is None  # not seen yet
    assert (await schema.execute("{ __typename }")).data == {"__typename": "Query"}
    before = CompiledOperations.taken
    assert await schema.execute_compiled("{ __typename }", [1], None, None, None) is None  # type: ignore[arg-type]
    assert await schema.execute_compiled("{ __typename }", None, None, "Other", None) is None  # no such operation
    assert CompiledOperations.taken == before
    result = await schema.execute_compiled("{ __typename }", {}, None, None, None)
    assert result is not None and (result.data, result.errors) == ({"__typename": "Query"}, None)
    assert CompiledOperations.taken == before + 1
    assert (await schema.execute("{ nope }")).errors
    assert await schema.execute_compiled("{ nope }", None, None, None, None) is None  # invalid: never compiled
    assert (await schema.execute("mutation { __typename }")).data == {"__typename": "Mutation"}
    assert await schema.execute_compiled("mutation { __typename }", None, None, None, None) is None
