"""Direct reads take a str given for an ID or a String variable as it is (resolvers/direct_reads.py):
the same variables graphql-core's get_variable_values gives, for any operation and any values; and
the same arguments its get_argument_values gives."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, parse, validate
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.operations import CUSTOMER_ORDERS
from resolvers.direct_reads import direct_read
from resolvers.graphql_schema import build_schema

SCHEMA = build_schema()._schema
TYPES = ["ID", "ID!", "String", "String!", "Int", "Boolean", "[ID!]", "OrderStatus"]
NAMES = ["a", "b", "c"]


class Text(str):
    """A str subclass: graphql-core's coercion decides it."""


values = st.one_of(
    st.text(max_size=5),
    st.builds(Text, st.text(max_size=3)),
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(),
    st.lists(st.text(max_size=2), max_size=2),
    st.just("SHIPPED"),
)


@st.composite
def operations(draw: st.DrawFn) -> tuple[str, dict[str, Any] | None]:
    count = draw(st.integers(0, 3))
    definitions = []
    for name in NAMES[:count]:
        default = ' = "d"' if draw(st.booleans()) and draw(st.booleans()) else ""
        definitions.append(f"${name}: {draw(st.sampled_from(TYPES))}{default if 'String' in definitions or default else ''}")
    header = f"({', '.join(definitions)})" if definitions else ""
    text = f'query {header} {{ order(orderId: "o") {{ orderId }} }}'
    given_values = draw(st.none() | st.dictionaries(st.sampled_from([*NAMES, "extra"]), values, max_size=4))
    return text, given_values


@settings(max_examples=400, deadline=None)
@given(operations())
def test_the_variables_are_graphql_cores(operation: tuple[str, dict[str, Any] | None]) -> None:
    text, variables = operation
    document = parse(text)
    (definition,) = document.definitions
    assert isinstance(definition, OperationDefinitionNode)
    read = direct_read(SCHEMA, document, definition)
    assert read is not None
    fast = read._given_strings(variables)
    if fast is not None:
        assert plain(fast) == plain(get_variable_values(SCHEMA, definition.variable_definitions or (), variables or {}))


def plain(values: Any) -> Any:
    """VariableValues as values (type_from_ast wraps a type in a new GraphQLNonNull each time)."""
    assert isinstance(values, VariableValues), values
    sources = {
        name: (source.signature.name, str(source.signature.type), source.signature.default, source.value)
        for name, source in values.sources.items()
    }
    return sources, values.coerced


def test_an_order_id_takes_the_short_road() -> None:
    document = parse("query ($id: ID!, $term: String) { order(orderId: $id) { orderId } }")
    (definition,) = document.definitions
    assert isinstance(definition, OperationDefinitionNode)
    read = direct_read(SCHEMA, document, definition)
    assert read is not None
    given_strings = read._given_strings({"id": "o-1", "term": "x", "extra": 1})
    assert given_strings is not None and given_strings.coerced == {"id": "o-1", "term": "x"}
    assert read._given_strings({"id": 7, "term": "x"}) is None  # graphql-core makes "7" of it
    assert read._given_strings({"id": "o-1"}) is None  # a missing variable: graphql-core decides


# Each field's arguments with what may stand there: an ID or String variable, a literal, or nothing.
FIELDS = {
    "order": {"orderId": "ID!", "minVersion": "Int", "waitMs": "Int"},
    "customerOrders": {
        "customerId": "ID!",
        "status": "OrderStatus",
        "page": "Int",
        "pageSize": "Int",
        "minPosition": "Position",
        "waitMs": "Int",
    },
    "searchOrders": {"query": "String", "filter": "OrderFilter", "sortBy": "OrderSortField", "page": "Int", "pageSize": "Int"},
    "customer": {"customerId": "ID!"},
}
SELECTIONS = {"order": "orderId", "customerOrders": "total", "searchOrders": "total", "customer": "customerId"}
LITERALS = {
    "ID!": ['"o-1"', '"O"'],
    "Int": ["2", "null", "5"],
    "String": ['"x"', "null"],
    "OrderStatus": ["SHIPPED", "CANCELLED", "null"],
    "Position": ["0", "7", "9007199254740991", "null"],
    "OrderFilter": ["{status: SHIPPED}", "null", "{}"],
    "OrderSortField": ["TOTAL_AMOUNT", "CREATED_AT"],
}
VARIABLE_TYPES = {"ID!": ["ID!"], "String": ["String", "String!"]}


@st.composite
def argument_operations(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    field = draw(st.sampled_from(sorted(FIELDS)))
    definitions: dict[str, str] = {}
    arguments = []
    for argument, kind in FIELDS[field].items():
        choices = ["literal", *(["variable"] if kind in VARIABLE_TYPES else []), *(["absent"] if kind != "ID!" else [])]
        choice = draw(st.sampled_from(choices))
        if choice == "variable":
            name = draw(st.sampled_from(NAMES))
            wanted = draw(st.sampled_from(VARIABLE_TYPES[kind]))
            type_ = definitions.setdefault(name, wanted)
            if type_ != wanted:  # a variable already declared with another type: a literal instead
                choice = "literal"
            else:
                arguments.append(f"{argument}: ${name}")
        if choice == "literal":
            arguments.append(f"{argument}: {draw(st.sampled_from(LITERALS[kind]))}")
    header = f"({', '.join(f'${name}: {type_}' for name, type_ in definitions.items())})" if definitions else ""
    listed = f"({', '.join(arguments)})" if arguments else ""
    text = f"query {header} {{ {field}{listed} {{ {SELECTIONS[field]} }} }}"
    given_values = {name: draw(st.text(max_size=4)) for name in definitions if draw(st.booleans()) or draw(st.booleans())}
    return text, given_values


@settings(max_examples=500, deadline=None)
@given(argument_operations())
def test_the_arguments_are_graphql_cores(operation: tuple[str, dict[str, Any]]) -> None:
    text, variables = operation
    document = parse(text)
    assert not validate(SCHEMA, document), text
    (definition,) = document.definitions
    assert isinstance(definition, OperationDefinitionNode)
    read = direct_read(SCHEMA, document, definition)
    assert read is not None
    given_strings = read._given_strings(variables)
    if given_strings is None:
        return
    try:
        expected: Any = get_argument_values(read.field, read.node, given_strings)
    except GraphQLError as error:
        expected = error.message
    try:
        ours: Any = read._arguments(given_strings, given_strings)
    except GraphQLError as error:
        ours = error.message
    assert ours == expected
    assert list(ours) == list(expected) if isinstance(ours, dict) else True


def planned_read(text: str, variables: dict[str, Any]) -> tuple[Any, Any]:
    """The direct read of `text` with planned arguments, and its variables taken as given strings."""
    document = parse(text)
    (definition,) = document.definitions
    assert isinstance(definition, OperationDefinitionNode)
    read = direct_read(SCHEMA, document, definition)
    assert read is not None and read.string_arguments is not None
    given_strings = read._given_strings(variables)
    assert given_strings is not None
    return read, given_strings


def test_an_order_read_plans_its_arguments() -> None:
    read, given_strings = planned_read("query ($id: ID!) { order(orderId: $id) { orderId } }", {"id": "o-1"})
    assert read._arguments(given_strings, given_strings) == {"orderId": "o-1", "minVersion": None, "waitMs": None}


def test_the_bench_customer_orders_plans_its_literal_page_size() -> None:
    read, given_strings = planned_read(CUSTOMER_ORDERS, {"customerId": "c-1"})
    expected = get_argument_values(read.field, read.node, given_strings)
    assert read._arguments(given_strings, given_strings) == expected
    assert expected["pageSize"] == 20
    assert list(read._arguments(given_strings, given_strings)) == list(expected)


def test_object_literals_are_not_planned() -> None:
    document = parse("query ($t: String) { searchOrders(query: $t, filter: {status: SHIPPED}) { total } }")
    (definition,) = document.definitions
    assert isinstance(definition, OperationDefinitionNode)
    read = direct_read(SCHEMA, document, definition)
    assert read is not None and read.string_arguments is None
