"""The direct reads' root resolver (resolvers/root_resolvers.py) against strawberry's own resolver
of the same field: for generated arguments and principals, the same result or the same error
(type, message, extensions), and the same calls to the read model."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from graphql import FieldNode, GraphQLObjectType, GraphQLResolveInfo, NameNode, OperationDefinitionNode, parse
from graphql.execution.values import VariableValues
from graphql.pyutils import Path
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.execution.is_awaitable import optimized_is_awaitable

from projections.order_views.queries import OrderPageView, OrderView
from resolvers.direct_reads import _HELPERS
from resolvers.graphql_schema import build_schema
from resolvers.root_resolvers import root_resolver
from schema.enums import OrderStatus
from schema.errors import error_code
from schema.principal import OPEN, Principal, Role

SCHEMA = build_schema()._schema
QUERY = cast(GraphQLObjectType, SCHEMA.query_type)
OPERATION = cast(OperationDefinitionNode, parse('query { order(orderId: "o") { orderId } }').definitions[0])
KNOWN = "ord-0001"
UUID_UPPER = "0A1B2C3D-0000-4000-8000-00000000ABCD"


def view(order_id: str, customer_id: str) -> OrderView:
    return OrderView.from_row(
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "status": "CREATED",
            "item_count": 1,
            "items": [{"product_id": "p-1", "quantity": 2, "price": "1.50"}],
            "total_amount": "3.00",
            "shipping_address": {"line1": "1 Road", "line2": None, "city": "Town", "postal_code": "1000", "country": "BE"},
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "shipped_at": None,
            "cancelled_at": None,
            "cancel_reason": None,
            "version": 1,
            "position": 7,
        }
    )


class Orders:
    """A read model holding two orders of customer c1; remembers every id it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def get(self, order_id: str) -> OrderView | None:
        self.asked.append(order_id)
        known = {KNOWN: view(KNOWN, "c1"), UUID_UPPER.lower(): view(UUID_UPPER.lower(), "c1")}
        return known.get(order_id)


PRINCIPALS = [
    OPEN,
    Principal(subject="s", roles=frozenset({Role.STAFF})),
    Principal(subject="c", roles=frozenset({Role.CUSTOMER}), customer_id="c1"),
    Principal(subject="d", roles=frozenset({Role.CUSTOMER}), customer_id="c2"),
    Principal(subject="e", roles=frozenset({Role.CUSTOMER})),
    Principal(subject="f", roles=frozenset({Role.CUSTOMER}), customer_id=""),
    Principal(subject="g", roles=frozenset()),
]

order_ids = st.one_of(
    st.sampled_from([KNOWN, UUID_UPPER, UUID_UPPER.lower(), "", " ", "x" * 100, "x" * 101, "a\x00b", "\ud800", "missing"]),
    st.text(max_size=8),
)
arguments = st.fixed_dictionaries(
    {"orderId": order_ids},
    optional={
        "minVersion": st.sampled_from([None, -1, -7]),
        "waitMs": st.sampled_from([None, 0, 500, 10_000, 10_001, -1]),
    },
)


def info_for(principal: Principal, orders: Any, name: str = "order", tracker: Any = None) -> GraphQLResolveInfo:
    field = QUERY.fields[name]
    node = FieldNode(name=NameNode(value=name))
    services = SimpleNamespace(orders=orders, order_reader=orders, tracker=tracker)
    context = SimpleNamespace(services=services, principal=principal)
    return GraphQLResolveInfo(
        name,
        [node],
        field.type,
        QUERY,
        Path(None, name, "Query"),
        SCHEMA,
        {},
        None,
        OPERATION,
        VariableValues({}, {}),
        context,
        optimized_is_awaitable,  # type: ignore[arg-type]
        None,
        _HELPERS,
    )


async def outcome(resolve: Any, principal: Principal, given_arguments: dict[str, Any]) -> tuple[Any, list[str]]:
    orders = Orders()
    try:
        result: Any = ("ok", await resolve(None, info_for(principal, orders), **given_arguments))
    except Exception as error:  # noqa: BLE001 - compared
        result = ("error", type(error), str(error), getattr(error, "extensions", None))
    return result, orders.asked


def assert_same_outcomes(name: str, run: Any, principal: Principal, given_arguments: dict[str, Any]) -> None:
    """The built-once resolver of the root field `name` and strawberry's give the same outcome under `run`."""
    field = QUERY.fields[name]
    fast = root_resolver(SCHEMA, field)
    assert fast is not None
    assert field.resolve is not None
    theirs = asyncio.run(run(field.resolve, principal, given_arguments))
    ours = asyncio.run(run(fast, principal, given_arguments))
    assert ours == theirs


@settings(max_examples=400, deadline=None)
@given(arguments, st.sampled_from(PRINCIPALS))
def test_the_order_resolver_answers_as_strawberrys(given_arguments: dict[str, Any], principal: Principal) -> None:
    assert_same_outcomes("order", outcome, principal, given_arguments)


def test_the_known_order_is_found_and_an_upper_case_uuid_is_canonical() -> None:
    fast = root_resolver(SCHEMA, QUERY.fields["order"])
    assert fast is not None
    (kind, order), asked = asyncio.run(outcome(fast, OPEN, {"orderId": UUID_UPPER}))
    assert kind == "ok" and order.order_id == UUID_UPPER.lower() and asked == [UUID_UPPER.lower()]
    (kind, *error), asked = asyncio.run(outcome(fast, PRINCIPALS[-1], {"orderId": KNOWN}))
    assert kind == "error" and error_code(error[0]("")) == "FORBIDDEN" and "needs one of the roles" in error[1]
    assert asked == []
    (kind, *error), asked = asyncio.run(outcome(fast, OPEN, {"orderId": "a\x00b"}))
    assert kind == "error" and error_code(error[0]("")) == "BAD_USER_INPUT" and asked == []


class Pages:
    """A read model and a position tracker that answer every page and wait, remembering each call."""

    def __init__(self) -> None:
        self.asked: list[Any] = []

    async def customer_orders(self, customer: str, *, status: Any, page: int, page_size: int) -> OrderPageView:
        self.asked.append(("customer_orders", customer, type(status), status, page, page_size))
        return OrderPageView(rows=(), total=3, page=page, page_size=page_size, total_pages=1, position=9)

    async def wait_for_position(self, name: str, position: int, timeout: float) -> None:
        self.asked.append(("wait", name, position, timeout))


customer_ids = st.one_of(
    st.sampled_from(["c1", "c2", UUID_UPPER, UUID_UPPER.lower(), "", " ", "x" * 100, "x" * 101, "a\x00b", "\ud800"]),
    st.text(max_size=6),
)
page_arguments = st.fixed_dictionaries(
    {"customerId": customer_ids},
    optional={
        "status": st.sampled_from([None, *OrderStatus]),
        "page": st.sampled_from([None, 0, 1, 2, 10_000, 10_001, -1]),
        "pageSize": st.sampled_from([None, 0, 1, 20, 100, 101]),
        "minPosition": st.sampled_from([None, 0, 7, 2**53 - 1]),
        "waitMs": st.sampled_from([None, 0, 500, 10_000, 10_001, -1]),
    },
)


async def page_outcome(resolve: Any, principal: Principal, given_arguments: dict[str, Any]) -> tuple[Any, list[Any]]:
    pages = Pages()
    try:
        page = await resolve(None, info_for(principal, pages, "customerOrders", pages), **given_arguments)
        result: Any = ("ok", type(page), page.total, page.page, page.page_size, page.total_pages, page.position)
    except Exception as error:  # noqa: BLE001 - compared
        result = ("error", type(error), str(error), getattr(error, "extensions", None))
    return result, pages.asked


@settings(max_examples=400, deadline=None)
@given(page_arguments, st.sampled_from(PRINCIPALS))
def test_the_customer_orders_resolver_answers_as_strawberrys(given_arguments: dict[str, Any], principal: Principal) -> None:
    # An enum (status) and the schema's own scalar (minPosition) among the arguments.
    assert_same_outcomes("customerOrders", page_outcome, principal, given_arguments)


def test_an_own_page_is_read_with_its_arguments() -> None:
    fast = root_resolver(SCHEMA, QUERY.fields["customerOrders"])
    assert fast is not None
    arguments = {"customerId": "c1", "status": OrderStatus.SHIPPED, "pageSize": 5, "minPosition": 7, "waitMs": 10}
    (kind, *_), asked = asyncio.run(page_outcome(fast, PRINCIPALS[2], arguments))
    assert kind == "ok"
    assert asked == [("wait", "order_views", 7, 0.01), ("customer_orders", "c1", OrderStatus, OrderStatus.SHIPPED, 1, 5)]
    (kind, *error), asked = asyncio.run(page_outcome(fast, PRINCIPALS[3], arguments))
    assert kind == "error" and error_code(error[0]("")) == "FORBIDDEN" and asked == []


def test_fields_of_other_shapes_keep_strawberrys_resolver() -> None:
    # An input object among the arguments (searchOrders): strawberry builds the input's object.
    assert root_resolver(SCHEMA, QUERY.fields["searchOrders"]) is None
