"""Views filled without __init__ are the views __init__ builds: same fields, equal, hashable alike."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.values import Address, OrderStatus
from projections.filled import filled
from projections.order_views.queries import OrderItemView, OrderView

ROW: dict[str, Any] = {
    "order_id": "o-1",
    "customer_id": "c-1",
    "status": "SHIPPED",
    "items": [{"product_id": "apple", "quantity": 3, "price": "1.25"}, {"product_id": "fig", "quantity": 1, "price": "20"}],
    "item_count": 4,
    "total_amount": "23.75",
    "shipping_address": {"line1": "1 Main St", "line2": None, "city": "Springfield", "postal_code": "1", "country": "US"},
    "created_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    "shipped_at": datetime(2024, 5, 2, 12, 0, tzinfo=UTC),
    "cancelled_at": None,
    "cancel_reason": None,
    "version": 2,
    "position": 17,
}


def built_by_init(row: dict[str, Any]) -> OrderView:
    items = tuple(
        OrderItemView(
            product_id=item["product_id"],
            quantity=item["quantity"],
            price=Decimal(item["price"]),
            line_total=Decimal(item["price"]) * item["quantity"],
        )
        for item in row["items"]
    )
    return OrderView(
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        status=OrderStatus(row["status"]),
        items=items,
        item_count=row["item_count"],
        total_amount=Decimal(row["total_amount"]),
        shipping_address=Address(**row["shipping_address"]),
        created_at=row["created_at"],
        shipped_at=row["shipped_at"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
        version=row["version"],
        position=row["position"],
    )


@pytest.mark.parametrize("row", [ROW, {**ROW, "items": []}, {**ROW, "status": "CANCELLED", "cancel_reason": "no"}])
def test_a_view_from_a_row_is_the_view_init_builds(row: dict[str, Any]) -> None:
    view = OrderView.from_row(row)

    expected = built_by_init(row)
    assert view == expected
    assert hash(view) == hash(expected)
    assert view.__dict__ == expected.__dict__
    assert [item.__dict__ for item in view.items] == [item.__dict__ for item in expected.items]
    assert view.items[0].line_total == Decimal("3.75") if row["items"] else view.items == ()


@pytest.mark.parametrize("cls", [OrderView, OrderItemView])
def test_the_filled_views_have_no_post_init_nor_slots_and_from_row_fills_every_init_parameter(cls: type) -> None:
    assert not hasattr(cls, "__post_init__") and "__slots__" not in cls.__dict__
    view = OrderView.from_row(ROW)
    instance = view if cls is OrderView else view.items[0]
    assert set(instance.__dict__) == set(inspect.signature(cls).parameters)
    assert set(instance.__dict__) == {field.name for field in dataclasses.fields(cls)}


def test_filled_refuses_nothing_but_builds_exactly_what_it_is_given() -> None:
    item = filled(OrderItemView, {"product_id": "p", "quantity": 2, "price": Decimal(1), "line_total": Decimal(2)})

    assert item == OrderItemView(product_id="p", quantity=2, price=Decimal(1), line_total=Decimal(2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.quantity = 3  # type: ignore[misc]
