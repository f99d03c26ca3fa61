"""Differential tests: the compiled renderers answer exactly as graphql-core's field-by-field executor.

Operations over Order, OrderPage and CustomerSummary are generated (random subsets of fields,
aliases, inline and named fragments, `__typename`, @skip/@include with variables, missing ids,
other customers' data, bad arguments, waits) and run in process, as staff and as customers, on
the served schema and on the same schema without compilation, over the same database (both
backends). The whole response must be equal: data, and every error's message, path, locations
and extensions.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.types import ExecutionResult

from resolvers.compiled_objects import CompiledExecutionContext
from resolvers.compiled_operations import CompiledOperations
from resolvers.graphql_schema import OrderlySchema, build_schema
from schema.context import Context
from schema.loaders import build_loaders
from schema.principal import Principal, Role
from tests.api.operations import CANCEL, CREATE, ORDER, SHIP, order_input
from tests.support.server import RunningServer, running_server, server_settings

COMPILED = build_schema()
_MISSING = object()
GENERIC = build_schema(compiled=False)

ORDER_LEAVES = [
    "orderId", "customerId", "status", "itemCount", "totalAmount", "version", "position",
    "createdAt", "shippedAt", "cancelledAt", "cancelReason",
]
ITEM_LEAVES = ["productId", "quantity", "price", "lineTotal"]
ADDRESS_LEAVES = ["line1", "line2", "city", "postalCode", "country"]
SUMMARY_LEAVES = [
    "customerId", "orderCount", "openOrderCount", "shippedOrderCount", "cancelledOrderCount", "lifetimeValue", "lastOrderAt",
]
PAGE_LEAVES = ["total", "page", "pageSize", "totalPages", "position"]


@dataclass
class Document:
    """A document being generated: its fragments and the Boolean variables its directives use."""

    fragments: dict[str, str] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)


def _name(index: int) -> str:
    return f"a{index}"


@st.composite
def _directive(draw: st.DrawFn, document: Document) -> str:
    kind = draw(st.sampled_from(["", "", "", "skip", "include"]))
    if not kind:
        return ""
    if draw(st.booleans()):
        return f" @{kind}(if: {str(draw(st.booleans())).lower()})"
    variable = f"f{len(document.flags)}"
    document.flags[variable] = draw(st.booleans())
    return f" @{kind}(if: ${variable})"


@st.composite
def _selection(draw: st.DrawFn, document: Document, type_name: str, depth: int = 0) -> str:
    """A selection set's contents on one of the generated types."""
    children: dict[str, tuple[str, list[str]]] = {
        "Order": ("Order", ORDER_LEAVES),
        "OrderItem": ("OrderItem", ITEM_LEAVES),
        "Address": ("Address", ADDRESS_LEAVES),
        "CustomerSummary": ("CustomerSummary", SUMMARY_LEAVES),
        "OrderPage": ("OrderPage", PAGE_LEAVES),
    }
    nested = {
        "Order": [("items", "OrderItem"), ("shippingAddress", "Address"), ("customer", "CustomerSummary")],
        "OrderPage": [("items", "Order")],
    }.get(type_name, [])
    leaves = children[type_name][1]
    parts: list[str] = []
    count = draw(st.integers(min_value=1, max_value=6))
    for _ in range(count):
        kind = draw(st.sampled_from(["leaf", "leaf", "leaf", "alias", "typename", "nested", "inline", "fragment"]))
        directive = draw(_directive(document))
        if kind in {"leaf", "alias"}:
            leaf = draw(st.sampled_from(leaves))
            alias = f"{_name(draw(st.integers(0, 3)))}: " if kind == "alias" else ""
            parts.append(f"{alias}{leaf}{directive}")
        elif kind == "typename":
            parts.append(f"__typename{directive}")
        elif kind == "nested" and nested and depth < 3:
            name, inner = draw(st.sampled_from(nested))
            alias = f"{_name(draw(st.integers(4, 5)))}: " if draw(st.booleans()) else ""
            body = draw(_selection(document, inner, depth + 1))
            parts.append(f"{alias}{name}{directive} {{ {body} }}")
        elif kind == "inline":
            condition = f"on {type_name} " if draw(st.booleans()) else ""
            body = draw(_selection(document, type_name, depth + 1)) if depth < 3 else leaves[0]
            parts.append(f"... {condition}{directive.strip()} {{ {body} }}")
        elif kind == "fragment" and depth < 3:
            fragment = f"F{len(document.fragments)}"
            document.fragments[fragment] = ""  # reserved before its body, which may define more
            body = draw(_selection(document, type_name, depth + 1))
            document.fragments[fragment] = f"fragment {fragment} on {type_name} {{ {body} }}"
            parts.append(f"...{fragment}{directive}")
        else:
            parts.append(draw(st.sampled_from(leaves)))
    return " ".join(parts)


@dataclass(frozen=True)
class Dataset:
    """What the database holds: two customers' orders (created, shipped, cancelled)."""

    first: str
    second: str
    orders: tuple[str, ...]
    others: tuple[str, ...]


@st.composite
def requests(draw: st.DrawFn, data: Dataset) -> tuple[str, dict[str, Any], str]:
    """(document, variables, who): one root field with generated arguments and selection."""
    document = Document()
    variables: dict[str, Any] = {}
    root = draw(st.sampled_from(["order", "order", "customerOrders", "searchOrders", "customer"]))
    arguments: list[str] = []
    definitions: list[str] = []
    if root == "order":
        order_id = draw(st.sampled_from([*data.orders, *data.others, str(uuid.uuid4()), data.orders[0].upper(), ""]))
        if draw(st.booleans()):
            # Now and then a value the variable's coercion refuses or changes (an Int ID), or none.
            value = draw(st.sampled_from([order_id, order_id, order_id, None, 12, ["x"], {"a": 1}, _MISSING]))
            if value is not _MISSING:
                variables["id"] = value
            definitions.append(draw(st.sampled_from(["$id: ID!", "$id: ID!", f'$id: ID = "{order_id}"'])))
            arguments.append("orderId: $id")
        else:
            arguments.append(f'orderId: "{order_id}"')
        if draw(st.integers(0, 4)) == 0:
            arguments.append(f"minVersion: {draw(st.sampled_from([-1, 1, 2, 50]))}, waitMs: {draw(st.sampled_from([0, 20, -5]))}")
        selection_type = "Order"
    elif root == "customer":
        arguments.append(f'customerId: "{draw(st.sampled_from([data.first, data.second, "nobody", ""]))}"')
        selection_type = "CustomerSummary"
    else:
        if root == "customerOrders":
            arguments.append(f'customerId: "{draw(st.sampled_from([data.first, data.second, "nobody"]))}"')
            if draw(st.booleans()):
                arguments.append(f"status: {draw(st.sampled_from(['CREATED', 'SHIPPED', 'CANCELLED']))}")
        else:
            if draw(st.booleans()):
                arguments.append(f'query: "{draw(st.sampled_from(["espresso", "Springfield", data.first, "zzz", ""]))}"')
            if draw(st.booleans()):
                arguments.append(f'filter: {{customerId: "{draw(st.sampled_from([data.first, data.second]))}"}}')
            if draw(st.booleans()):
                arguments.append(f"sortBy: {draw(st.sampled_from(['CREATED_AT', 'TOTAL_AMOUNT']))}, sortOrder: ASC")
        page_size = draw(st.sampled_from([None, 1, 2, 20, 0, 101]))
        if page_size is not None:
            if draw(st.booleans()):
                variables["size"] = page_size
                definitions.append("$size: Int")
                arguments.append("pageSize: $size")
            else:
                arguments.append(f"pageSize: {page_size}")
        if draw(st.booleans()):
            arguments.append(f"page: {draw(st.sampled_from([1, 2, 0]))}")
        if draw(st.integers(0, 4)) == 0:
            arguments.append("minPosition: 1, waitMs: 10")
        selection_type = "OrderPage"
    selection = draw(_selection(document, selection_type))
    alias = "root: " if draw(st.integers(0, 3)) == 0 else ""
    definitions += [f"${flag}: Boolean!" for flag in document.flags]
    variables.update(document.flags)
    header = f"query Q({', '.join(definitions)})" if definitions else "query Q"
    fragments = "\n".join(document.fragments.values())
    text = f"{header} {{ {alias}{root}({', '.join(arguments)}) {{ {selection} }} }}\n{fragments}"
    who = draw(st.sampled_from(["staff", "first", "second"]))
    return text, variables, who


def _response(result: ExecutionResult) -> dict[str, Any]:
    """The response as a client reads it (errors formatted with their contract codes)."""
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [error.formatted for error in result.errors]
    return response


async def _run(
    schema: OrderlySchema, server: RunningServer, principal: Principal, text: str, variables: dict[str, Any]
) -> dict[str, Any]:
    services = server.container.services
    assert services is not None
    context = Context(services=services, loaders=build_loaders(services.customers, cache=True), principal=principal)
    # As the view does: the compiled road first (the served schema only), strawberry's otherwise.
    result = await schema.execute_compiled(text, variables, context, None, None)
    if result is None:
        result = await schema.execute(text, variable_values=variables, context_value=context)
    return _response(result)


@pytest.fixture
async def loaded(database_url: str) -> AsyncIterator[tuple[RunningServer, Dataset]]:
    """A server with two customers' orders: created, shipped, cancelled, several items, an address with and without line2."""
    async with running_server(server_settings(database_url)) as server:
        first, second = f"cust-{uuid.uuid4().hex[:8]}", f"cust-{uuid.uuid4().hex[:8]}"
        orders: list[str] = []
        others: list[str] = []
        inputs = [
            order_input(first),
            order_input(first, items=[
                {"productId": "espresso-beans", "quantity": 1, "price": "12.50"},
                {"productId": "filter-papers", "quantity": 3, "price": "0.99"},
            ]),
            order_input(first, shippingAddress={
                "line1": "2 High St", "line2": "Flat 3", "city": "Shelbyville", "postalCode": "54321", "country": "US",
            }),
        ]
        for value in inputs:
            created = await server.gql.data(CREATE, {"input": value})
            orders.append(created["createOrder"]["orderId"])
        await server.gql.data(SHIP, {"input": {"orderId": orders[1]}})
        await server.gql.data(CANCEL, {"input": {"orderId": orders[2], "reason": "changed my mind"}})
        created = await server.gql.data(CREATE, {"input": order_input(second)})
        others.append(created["createOrder"]["orderId"])
        for order_id, version in [(orders[0], 1), (orders[1], 2), (orders[2], 2), (others[0], 1)]:
            seen = await server.gql.data(ORDER, {"id": order_id, "minVersion": version, "waitMs": 10_000})
            assert seen["order"]["version"] == version
        yield server, Dataset(first=first, second=second, orders=tuple(orders), others=tuple(others))


def _principal(who: str, data: Dataset) -> Principal:
    if who == "staff":
        return Principal(subject="staff-1", roles=frozenset({Role.STAFF}))
    customer = data.first if who == "first" else data.second
    return Principal(subject=customer, roles=frozenset({Role.CUSTOMER}), customer_id=customer)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_compiled_answers_equal_the_generic_executor(loaded: tuple[RunningServer, Dataset], data: st.DataObject) -> None:
    server, dataset = loaded
    text, variables, who = data.draw(requests(dataset))
    principal = _principal(who, dataset)
    generic = await _run(GENERIC, server, principal, text, variables)
    compiled = await _run(COMPILED, server, principal, text, variables)  # strawberry's road, renderers compiled
    assert compiled == generic, text
    again = await _run(COMPILED, server, principal, text, variables)  # the compiled operation, for a valid document
    assert again == generic, text


async def test_a_repeated_read_takes_the_compiled_road(loaded: tuple[RunningServer, Dataset]) -> None:
    server, dataset = loaded
    staff = _principal("staff", dataset)
    query = (
        'query Q($s: Boolean!) { customerOrders(customerId: "%s") { total items { ...F __typename '
        "shippingAddress @skip(if: $s) { city } } } } fragment F on Order { id: orderId items { price } }"
    ) % dataset.first
    objects, operations = CompiledExecutionContext.compiled_objects, CompiledOperations.taken
    generic = await _run(GENERIC, server, staff, query, {"s": False})
    assert (CompiledExecutionContext.compiled_objects, CompiledOperations.taken) == (objects, operations)
    first = await _run(COMPILED, server, staff, query, {"s": False})  # parsed and validated on strawberry's road
    assert first == generic
    assert (CompiledExecutionContext.compiled_objects, CompiledOperations.taken) == (objects + 1, operations)  # one renderer
    again = await _run(COMPILED, server, staff, query, {"s": False})
    assert again == generic
    assert (CompiledExecutionContext.compiled_objects, CompiledOperations.taken) == (objects + 2, operations + 1)
    skipped = await _run(COMPILED, server, staff, query, {"s": True})
    assert CompiledOperations.taken == operations + 2
    assert skipped == await _run(GENERIC, server, staff, query, {"s": True})
    assert all("shippingAddress" not in order for order in skipped["data"]["customerOrders"]["items"])
    assert len(first["data"]["customerOrders"]["items"]) == 3


async def test_a_plain_read_takes_the_direct_road(loaded: tuple[RunningServer, Dataset]) -> None:
    server, dataset = loaded
    staff, other = _principal("staff", dataset), _principal("second", dataset)
    plain = "query Q($id: ID!) { o: order(orderId: $id) { orderId items { price } ...F } } fragment F on Order { status }"
    directed = "query Q($id: ID!, $s: Boolean!) { order(orderId: $id) { orderId status @skip(if: $s) } }"
    page = "query P($c: ID!, $n: Int) { customerOrders(customerId: $c, pageSize: $n) { total position items { orderId } } }"
    search = "query S($n: Int) { searchOrders(pageSize: $n) { total items { orderId customerId } } }"
    cases = [
        (plain, staff, {"id": dataset.orders[0]}, True),
        (plain, other, {"id": dataset.orders[0]}, True),  # another customer's order: null
        (plain, staff, {"id": ""}, True),  # BAD_USER_INPUT, located on the field
        (plain, staff, {"id": None}, False),  # the variable's error: the compiled road reports it
        (directed, staff, {"id": dataset.orders[0], "s": True}, False),  # a renderer per directive value
        (page, staff, {"c": dataset.first, "n": 2}, True),
        (page, staff, {"c": dataset.first, "n": 0}, True),  # an error on a non-null field: no data
        (page, other, {"c": dataset.first, "n": 2}, True),  # FORBIDDEN: another customer
        (search, other, {"n": 20}, True),  # a customer sees its own orders only
    ]
    for text, principal, variables, direct in cases:
        generic = await _run(GENERIC, server, principal, text, variables)
        assert await _run(COMPILED, server, principal, text, variables) == generic
        before = CompiledOperations.direct
        assert await _run(COMPILED, server, principal, text, variables) == generic, (text, variables)
        assert CompiledOperations.direct == before + direct, (text, variables)
    assert (await _run(COMPILED, server, staff, plain, {"id": dataset.orders[0]}))["data"]["o"]["status"] == "CREATED"


async def test_mutations_and_other_roots_keep_strawberrys_road(loaded: tuple[RunningServer, Dataset]) -> None:
    server, dataset = loaded
    staff = Principal(subject="admin-1", roles=frozenset({Role.ADMIN}))
    documents = [
        "{ projections { name } }",
        f'{{ orderEvents(orderId: "{dataset.orders[0]}") {{ type }} }}',
        "{ __schema { queryType { name } } }",
        f'{{ order(orderId: "{dataset.orders[0]}") {{ orderId }} projections {{ name }} }}',
    ]
    for document in documents:
        for _ in range(2):
            operations = CompiledOperations.taken
            await _run(COMPILED, server, staff, document, {})
            assert CompiledOperations.taken == operations, document
    create = {"input": order_input(dataset.first)}
    for _ in range(2):
        operations = CompiledOperations.taken
        result = await _run(COMPILED, server, staff, CREATE, create | {"input": order_input(dataset.first)})
        assert result["data"]["createOrder"]["version"] == 1
        assert CompiledOperations.taken == operations
