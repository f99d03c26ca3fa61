"""Given events, then the customer's summary: counts move with status, value stays exact."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest

from domain.ports import RecordedEvent
from projections.customer_summaries.queries import CustomerSummaryQueries, CustomerSummaryView
from projections.projector import ProjectionGapError
from projections.read_models import ReadModelStore
from tests.projections.builders import T0, History, item
from tests.projections.conftest import apply_batch


async def project(read_models: ReadModelStore, events: Sequence[RecordedEvent]) -> dict[str, int]:
    return await apply_batch(read_models, "customer_summaries", events)


def counts(summary: CustomerSummaryView | None) -> tuple[int, int, int, int, Decimal]:
    assert summary is not None
    return (
        summary.order_count,
        summary.open_order_count,
        summary.shipped_order_count,
        summary.cancelled_order_count,
        summary.lifetime_value,
    )


async def test_orders_move_between_counts_and_cancelled_ones_leave_the_value(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-1", "c-1", item("a", 2, "10.10"), at=T0)
    history.created("o-2", "c-1", item("b", 1, "0.05"), at=T0 + timedelta(days=2))
    history.created("o-3", "c-1", item("c", 1, "100"), at=T0 + timedelta(days=1))
    history.added("o-1", item("d", 1, "0.0001"))
    history.shipped("o-1")
    history.cancelled("o-3")
    history.created("o-4", "c-2", item("e", 3, "1"))

    await project(read_models, history.events)

    queries = CustomerSummaryQueries(read_models)
    first = await queries.get("c-1")
    assert counts(first) == (3, 1, 1, 1, Decimal("20.2501"))
    assert first is not None and first.last_order_at == T0 + timedelta(days=2)
    assert counts(await queries.get("c-2")) == (1, 1, 0, 0, Decimal("3"))
    assert await queries.get("nobody") is None
    assert set(await queries.get_many(["c-1", "c-2", "nobody"])) == {"c-1", "c-2"}


async def test_one_event_per_batch_gives_the_same_summary(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-1", "c-1", item("a", 1, "5"))
    history.added("o-1", item("b", 1, "2.5"))
    history.created("o-2", "c-1", item("c", 1, "1"))
    history.cancelled("o-1")
    history.shipped("o-2")

    for event in history.events:
        await project(read_models, [event])

    assert counts(await CustomerSummaryQueries(read_models).get("c-1")) == (2, 0, 1, 1, Decimal("1"))


async def test_replayed_batches_are_not_counted_twice(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-1", "c-1", item("a", 1, "5"))
    history.created("o-2", "c-1", item("b", 1, "7"))
    history.shipped("o-1")

    await project(read_models, history.events)
    assert await project(read_models, history.events) == {}
    assert await project(read_models, history.events[:2]) == {}

    assert counts(await CustomerSummaryQueries(read_models).get("c-1")) == (2, 1, 1, 0, Decimal("12"))


async def test_a_version_gap_fails_the_batch(read_models: ReadModelStore) -> None:
    history = History()
    history.created("o-1", "c-1")
    history.added("o-1", item("b"))
    history.shipped("o-1")

    with pytest.raises(ProjectionGapError):
        await project(read_models, [history.events[0], history.events[2]])
    assert await CustomerSummaryQueries(read_models).get("c-1") is None


def _splits(count: int) -> list[list[int]]:
    """Every way to cut `count` events into consecutive batches, as the batches' end indexes."""
    return [
        [end for end in range(1, count) if mask >> (end - 1) & 1] + [count] for mask in range(2 ** (count - 1))
    ]


async def test_the_summary_text_does_not_depend_on_where_batches_end(read_models: ReadModelStore) -> None:
    # Two customers: one whose only order is cancelled, one with mixed exponents and a cancel.
    def story(history: History, key: int) -> None:
        history.created(f"o-a-{key}", f"c-a-{key}", item("a", 1, "25.00"))
        history.created(f"o-b-{key}", f"c-b-{key}", item("b", 2, "3.5"))
        history.cancelled(f"o-a-{key}")
        history.added(f"o-b-{key}", item("c", 1, "0.125"))
        history.created(f"o-c-{key}", f"c-b-{key}", item("d", 1, "10"))
        history.cancelled(f"o-c-{key}")
        history.shipped(f"o-b-{key}")

    history = History()
    splits = _splits(7)
    stories: list[list[RecordedEvent]] = []
    for key in range(len(splits)):
        start = len(history.events)
        story(history, key)
        stories.append(history.events[start:])
    for events, ends in zip(stories, splits, strict=True):
        begin = 0
        for end in ends:
            await project(read_models, events[begin:end])
            begin = end

    queries = CustomerSummaryQueries(read_models)
    texts = set()
    for key in range(len(splits)):
        cancelled, mixed = await queries.get(f"c-a-{key}"), await queries.get(f"c-b-{key}")
        assert cancelled is not None and mixed is not None
        texts.add((counts(cancelled), str(cancelled.lifetime_value), counts(mixed), str(mixed.lifetime_value)))
    assert texts == {((1, 0, 0, 1, Decimal(0)), "0.00", (2, 0, 1, 1, Decimal("7.125")), "7.125")}
