"""The codec's encoder: the stored shape of an event, field by field (the encoder caches field names per class)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from domain.events import OrderCancelled, OrderCreated
from domain.values import Address, LineItem
from eventstore.codec import decode, encode

AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def test_an_event_encodes_to_its_stored_shape_and_back() -> None:
    event = OrderCreated(
        order_id="o-1",
        customer_id="c-1",
        items=(
            LineItem(product_id="p-1", quantity=2, price=Decimal("10.50")),
            LineItem(product_id="p-2", quantity=1, price=Decimal("0.10")),
        ),
        shipping_address=Address(line1="1 Main St", line2=None, city="Town", postal_code="123", country="NL"),
        occurred_at=AT,
    )

    data = encode(event)

    assert data == {
        "order_id": "o-1",
        "customer_id": "c-1",
        "items": [
            {"product_id": "p-1", "quantity": 2, "price": "10.50"},
            {"product_id": "p-2", "quantity": 1, "price": "0.10"},
        ],
        "shipping_address": {"line1": "1 Main St", "line2": None, "city": "Town", "postal_code": "123", "country": "NL"},
        "occurred_at": "2024-05-06T07:08:09.123456+00:00",
    }
    assert decode(event.type_name, event.schema_version, data) == event


def test_other_zones_and_a_second_class_use_their_own_fields() -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    event = OrderCancelled(order_id="o-2", reason="changed my mind", occurred_at=at)

    assert encode(event) == {"order_id": "o-2", "reason": "changed my mind", "occurred_at": "2024-01-02T03:04:05+02:00"}
