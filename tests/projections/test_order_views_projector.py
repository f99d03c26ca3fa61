"""Given events, then the order_views row: folding, idempotency, gaps, exact money."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from domain.ports import RecordedEvent
from domain.values import Address
from projections.money import MAX_MINOR
from projections.order_views.queries import OrderItemView, OrderViewQueries
from projections.order_views.tables import order_views
from projections.projector import ProjectionGapError
from projections.read_models import ReadModelStore
from tests.projections.builders import T0, History, item
from tests.projections.conftest import apply_batch


async def project(read_models: ReadModelStore, events: Sequence[RecordedEvent]) -> dict[str, int]:
    return await apply_batch(read_models, "order_views", events)


async def test_created_order_shows_everything_the_contract_needs(read_models: ReadModelStore) -> None:
    history = History()
    address = Address(line1="10 Downing St", line2="Flat 2", city="London", postal_code="SW1A 2AA", country="GB")
    history.created("o-1", "c-1", item("SKU-A", 2, "19.99"), item("SKU-B", 1, "0.01"), address=address)

    streams = await project(read_models, history.events)

    view = await OrderViewQueries(read_models).get("o-1")
    assert streams == {"o-1": 1}
    assert view is not None
    assert view.customer_id == "c-1"
    assert view.status == "CREATED"
    assert view.items == (
        OrderItemView(product_id="SKU-A", quantity=2, price=Decimal("19.99"), line_total=Decimal("39.98")),
        OrderItemView(product_id="SKU-B", quantity=1, price=Decimal("0.01"), line_total=Decimal("0.01")),
    )
    assert view.item_count == 3
    assert view.total_amount == Decimal("39.99")
    assert view.shipping_address == Address(
        line1="10 Downing St", line2="Flat 2", city="London", postal_code="SW1A 2AA", country="GB"
    )
    assert view.created_at == T0 and view.created_at.tzinfo is not None
    assert (view.shipped_at, view.cancelled_at, view.cancel_reason) == (None, None, None)
    assert (view.version, view.position) == (1, 1)


async def test_items_shipping_and_cancelling_fold_in_order(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-1", "c-1", item("a", 1, "0.1"))
    history.added("o-1", item("b", 2, "0.1"))
    history.shipped("o-1", at=T0 + timedelta(hours=3))
    history.created("o-2", "c-1", item("c", 1, "5"))
    history.cancelled("o-2", reason="too slow", at=T0 + timedelta(hours=4))

    assert await project(read_models, history.events) == {"o-1": 3, "o-2": 2}

    views = await OrderViewQueries(read_models).get_many(["o-1", "o-2", "missing"])
    shipped, cancelled = views["o-1"], views["o-2"]
    assert set(views) == {"o-1", "o-2"}
    assert shipped.total_amount == Decimal("0.3")  # exact: no float anywhere
    assert shipped.item_count == 3
    assert [line.product_id for line in shipped.items] == ["a", "b"]
    assert (shipped.status, shipped.shipped_at, shipped.version, shipped.position) == (
        "SHIPPED",
        T0 + timedelta(hours=3),
        3,
        3,
    )
    assert (cancelled.status, cancelled.cancel_reason, cancelled.cancelled_at) == (
        "CANCELLED",
        "too slow",
        T0 + timedelta(hours=4),
    )


async def test_events_split_over_batches_give_the_same_row(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-1", "c-1", item("a", 1, "1.50"))
    history.added("o-1", item("b", 3, "2.25"))
    history.shipped("o-1")

    for event in history.events:
        await project(read_models, [event])

    view = await OrderViewQueries(read_models).get("o-1")
    assert view is not None
    assert (view.total_amount, view.item_count, view.version, view.status) == (Decimal("8.25"), 4, 3, "SHIPPED")


async def test_replaying_a_batch_changes_nothing(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-1", "c-1", item("a", 1, "1"))
    history.added("o-1", item("b", 1, "2"))
    first, second = history.events[:1], list(history.events)
    await project(read_models, second)
    history.shipped("o-1")
    await project(read_models, history.events[2:])

    # A batch that starts the stream is folded without reading the row (it cannot exist
    # when the checkpoint is right); the upsert's version guard keeps the newer row.
    await project(read_models, second)
    await project(read_models, first)

    view = await OrderViewQueries(read_models).get("o-1")
    assert view is not None
    assert (view.version, view.total_amount, len(view.items), view.status) == (3, Decimal("3"), 2, "SHIPPED")


async def test_replaying_a_batch_that_continues_a_stream_reports_nothing(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-1", "c-1", item("a", 1, "1"))
    history.added("o-1", item("b", 1, "2"))
    await project(read_models, history.events)

    assert await project(read_models, history.events[1:]) == {}


async def test_a_version_gap_fails_the_batch(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-1", "c-1")
    history.added("o-1", item("b"))
    history.shipped("o-1")

    with pytest.raises(ProjectionGapError, match="o-1"):
        await project(read_models, [history.events[0], history.events[2]])
    with pytest.raises(ProjectionGapError):
        await project(read_models, [history.events[1]])  # no OrderCreated seen

    assert await OrderViewQueries(read_models).get("o-1") is None  # rolled back


async def test_search_text_holds_ids_products_and_address_casefolded(read_models: ReadModelStore) -> None:
    history = History()
    history.created("Order-X", "Cust-Y", item("SKU-Big"), address=Address(
        line1="Hauptstraße 5", line2=None, city="Köln", postal_code="50667", country="DE"
    ))
    history.added("Order-X", item("Extra-Part"))
    await project(read_models, history.events)

    async with read_models.reader.connect() as conn:
        text = await conn.scalar(select(order_views.c.search_text).where(order_views.c.order_id == "Order-X"))
    assert text is not None
    for word in ("order-x", "cust-y", "sku-big", "extra-part", "hauptstrasse", "köln", "50667", "de"):
        assert word in text


async def test_huge_totals_stay_exact_and_saturate_the_sort_column(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-big", "c-1", *[item(f"p{n}", 1_000_000, "1000000000") for n in range(100)])
    await project(read_models, history.events)

    view = await OrderViewQueries(read_models).get("o-big")
    async with read_models.reader.connect() as conn:
        minor = await conn.scalar(select(order_views.c.total_minor).where(order_views.c.order_id == "o-big"))
    assert view is not None and view.total_amount == Decimal("100000000000000000")
    assert minor == MAX_MINOR
