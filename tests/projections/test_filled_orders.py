"""Orders filled without __init__ equal the constructor's, field for field, on generated rows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.values import Address, OrderStatus
from projections.filled import copies_fields
from projections.order_views.queries import OrderItemView, OrderView
from schema import types
from schema.scalars import Position
from schema.types import Order, OrderItem
from tests.projections.test_filled import ROW, built_by_init

texts = st.text(max_size=12)
optional_times = st.none() | st.datetimes(timezones=st.just(UTC))
decimals = st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), allow_nan=False, places=2)
items = st.fixed_dictionaries(
    {"product_id": texts, "quantity": st.integers(0, 10_000), "price": decimals.map(str)},
)
addresses = st.fixed_dictionaries(
    {"line1": texts, "line2": st.none() | texts, "city": texts, "postal_code": texts, "country": texts},
)
rows = st.fixed_dictionaries(
    {
        "order_id": texts,
        "customer_id": texts,
        "status": st.sampled_from([status.value for status in OrderStatus]),
        "items": st.lists(items, max_size=5),
        "item_count": st.integers(0, 50_000),
        "total_amount": decimals.map(str),
        "shipping_address": addresses,
        "created_at": st.datetimes(timezones=st.just(UTC)),
        "shipped_at": optional_times,
        "cancelled_at": optional_times,
        "cancel_reason": st.none() | texts,
        "version": st.integers(1, 10**6),
        "position": st.integers(0, 2**62),
    }
)


def order_by_init(view: OrderView) -> Order:
    return Order(
        order_id=strawberry.ID(view.order_id),
        customer_id=strawberry.ID(view.customer_id),
        status=view.status,
        items=[
            OrderItem(product_id=item.product_id, quantity=item.quantity, price=item.price, line_total=item.line_total)
            for item in view.items
        ],
        item_count=view.item_count,
        total_amount=view.total_amount,
        shipping_address=view.shipping_address,
        created_at=view.created_at,
        shipped_at=view.shipped_at,
        cancelled_at=view.cancelled_at,
        cancel_reason=view.cancel_reason,
        version=view.version,
        position=Position(view.position),
    )


def assert_same_view(view: OrderView, expected: OrderView) -> None:
    assert view == expected and hash(view) == hash(expected)
    assert view.__dict__ == expected.__dict__
    assert type(view.status) is OrderStatus and type(view.shipping_address) is Address
    assert view.shipping_address.__dict__ == expected.shipping_address.__dict__
    assert [item.__dict__ for item in view.items] == [item.__dict__ for item in expected.items]


def assert_same_order(order: Order, expected: Order) -> None:
    assert type(order) is Order and order == expected
    assert order.__dict__.keys() == expected.__dict__.keys()
    assert {name: type(value) for name, value in order.__dict__.items()} == {
        name: type(value) for name, value in expected.__dict__.items()
    }
    assert [type(item) for item in order.items] == [OrderItem] * len(expected.items)
    assert [item.__dict__ for item in order.items] == [item.__dict__ for item in expected.items]


@settings(max_examples=300, deadline=None)
@given(rows)
def test_a_view_and_an_order_from_any_row_are_what_the_constructors_build(row: dict[str, Any]) -> None:
    view = OrderView.from_row(row)
    assert_same_view(view, built_by_init(row))

    order = Order.from_view(view)
    assert_same_order(order, order_by_init(view))
    assert type(order.items) is list and order.items is not Order.from_view(view).items


def test_orders_are_filled_only_while_they_copy_the_views_and_the_constructor_builds_the_same() -> None:
    assert types._ORDERS_COPY_VIEWS
    view = OrderView.from_row(ROW)
    filled_order = Order.from_view(view)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(types, "_ORDERS_COPY_VIEWS", False)
        assert_same_order(Order.from_view(view), filled_order)


def test_an_order_filled_from_a_view_is_independent_of_it() -> None:
    view = OrderView.from_row(ROW)
    order = Order.from_view(view)
    order.items.append(order.items[0])
    order.status = OrderStatus.CANCELLED

    assert len(view.items) == 2 and view.status is OrderStatus.SHIPPED
    assert view.__dict__ == built_by_init(ROW).__dict__


@dataclasses.dataclass(kw_only=True)
class _Item:
    product_id: str
    quantity: int
    price: Decimal
    line_total: Decimal


@dataclasses.dataclass(kw_only=True)
class _ItemWithCheck(_Item):
    def __post_init__(self) -> None:
        pass


@dataclasses.dataclass(kw_only=True, slots=True)
class _SlottedItem:
    product_id: str
    quantity: int
    price: Decimal
    line_total: Decimal


@dataclasses.dataclass
class _PositionalItem:
    product_id: str
    quantity: int
    price: Decimal
    line_total: Decimal


@dataclasses.dataclass(kw_only=True)
class _ItemWithMore(_Item):
    note: str = ""


@pytest.mark.parametrize(
    ("target", "copies"),
    [
        (_Item, True),
        (OrderItem, True),
        (_ItemWithCheck, False),
        (_SlottedItem, False),
        (_PositionalItem, False),
        (_ItemWithMore, False),
    ],
)
def test_copies_fields_holds_only_for_a_plain_class_with_the_same_keyword_fields(target: type, copies: bool) -> None:
    assert copies_fields(target, OrderItemView) is copies


@pytest.mark.parametrize(
    "address",
    [
        {**ROW["shipping_address"], "county": "x"},
        {key: value for key, value in ROW["shipping_address"].items() if key != "line2"},
    ],
)
def test_a_stored_address_of_another_shape_is_refused_as_the_constructor_refuses_it(address: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        Address(**address)
    with pytest.raises(TypeError):
        OrderView.from_row({**ROW, "shipping_address": address})


def test_an_unknown_status_is_refused_as_the_enum_refuses_it() -> None:
    with pytest.raises(ValueError):
        OrderStatus("LOST")
    with pytest.raises(ValueError):
        OrderView.from_row({**ROW, "status": "LOST"})


def test_generated_rows_reach_the_edges() -> None:
    view = OrderView.from_row({**ROW, "created_at": datetime(1, 1, 1, tzinfo=UTC), "items": []})
    assert Order.from_view(view).items == []
