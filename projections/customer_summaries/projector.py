"""Folds order events into per-order facts, then moves each changed order's contribution
between its customer's counts and lifetime value: two reads and two bulk upserts a batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.events import OrderCancelled, OrderCreated, OrderItemAdded, OrderShipped
from domain.handlers import ORDER_STREAM
from domain.ports import RecordedEvent
from domain.values import OrderStatus
from projections.changes import BatchChanges, Upsert
from projections.customer_summaries.tables import FACT_ROW, SUMMARY_ROW, customer_order_facts, customer_summaries
from projections.money import format_amount, to_minor
from projections.projector import ProjectionGapError, Projector, fold_in_order
from projections.read_models import KeyedRows

COUNT_COLUMN = {
    OrderStatus.CREATED: "open_order_count",
    OrderStatus.SHIPPED: "shipped_order_count",
    OrderStatus.CANCELLED: "cancelled_order_count",
}


@dataclass(slots=True, kw_only=True)
class _Fact:
    order_id: str
    customer_id: str
    status: OrderStatus
    total: Decimal
    version: int
    position: int = 0
    created_at: datetime | None = None  # known only for orders created in this batch

    @property
    def value(self) -> Decimal:
        """What the order adds to its customer's lifetime value.

        A cancelled order adds a zero with its total's exponent ("25.00" -> "0.00"): a sum of
        Decimals keeps the smallest exponent of its terms, and a batch that saw the order open
        had added (and now takes away) its total. A plain 0 made the text depend on where
        batches ended ("0" when created and cancelled in one batch, "0.00" across two).
        """
        return Decimal(0).quantize(self.total) if self.status is OrderStatus.CANCELLED else self.total

    def row(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "status": self.status.value,
            "total_amount": format_amount(self.total),
            "total_minor": to_minor(self.total),
            "version": self.version,
        }


def _empty_summary(customer_id: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "order_count": 0,
        "open_order_count": 0,
        "shipped_order_count": 0,
        "cancelled_order_count": 0,
        "lifetime_value": Decimal(0),
        "last_order_at": None,
        "position": 0,
    }


async def _load_facts(reader: KeyedRows, order_ids: Sequence[str]) -> dict[str, _Fact]:
    facts: dict[str, _Fact] = {}
    for row in await reader.rows_by_key(FACT_ROW, order_ids):
        facts[row["order_id"]] = _Fact(
            order_id=row["order_id"],
            customer_id=row["customer_id"],
            status=OrderStatus(row["status"]),
            total=Decimal(row["total_amount"]),
            version=row["version"],
        )
    return facts


async def _load_summaries(reader: KeyedRows, customer_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    summaries: dict[str, dict[str, Any]] = {}
    for row in await reader.rows_by_key(SUMMARY_ROW, customer_ids):
        summary = dict(row)
        summary["lifetime_value"] = Decimal(summary["lifetime_value"])
        summaries[summary["customer_id"]] = summary
    return summaries


def _move(summary: dict[str, Any], previous: tuple[OrderStatus, Decimal] | None, fact: _Fact) -> None:
    """Take the order's old status and value out of the summary and put its new ones in."""
    if previous is None:
        summary["order_count"] += 1
    else:
        status, value = previous
        summary[COUNT_COLUMN[status]] -= 1
        summary["lifetime_value"] -= value
    summary[COUNT_COLUMN[fact.status]] += 1
    summary["lifetime_value"] += fact.value
    last_order_at = summary["last_order_at"]
    if fact.created_at is not None and (last_order_at is None or fact.created_at > last_order_at):
        summary["last_order_at"] = fact.created_at
    summary["position"] = max(summary["position"], fact.position)


def _summary_row(summary: dict[str, Any]) -> dict[str, Any]:
    value = summary["lifetime_value"]
    return {**summary, "lifetime_value": format_amount(value), "lifetime_minor": to_minor(value)}


def _fold(fact: _Fact | None, recorded: RecordedEvent) -> _Fact:
    event = recorded.decoded()  # the runner refuses unreadable events already (projections/unreadable.py)
    match event:
        case OrderCreated() if fact is None:
            fact = _Fact(
                order_id=event.order_id,
                customer_id=event.customer_id,
                status=OrderStatus.CREATED,
                total=sum((item.line_total for item in event.items), Decimal(0)),
                version=0,
                created_at=event.occurred_at,
            )
        case OrderItemAdded() if fact is not None:
            fact.total += event.item.line_total
        case OrderShipped() if fact is not None:
            fact.status = OrderStatus.SHIPPED
        case OrderCancelled() if fact is not None:
            fact.status = OrderStatus.CANCELLED
        case _:
            raise ProjectionGapError(recorded.stream_id, 0 if fact is None else fact.version, recorded.version)
    fact.version = recorded.version
    fact.position = recorded.position
    return fact


async def plan(reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
    """Fold a batch into customer_summaries rows; events the facts already reflect are ignored."""
    relevant = [recorded for recorded in events if recorded.stream_type == ORDER_STREAM]
    facts = await _load_facts(reader, list(dict.fromkeys(recorded.stream_id for recorded in relevant)))
    before = {order_id: (fact.status, fact.value) for order_id, fact in facts.items()}
    changed = fold_in_order(facts, relevant, _fold)
    if not changed:
        return BatchChanges()

    summaries = await _load_summaries(reader, list(dict.fromkeys(fact.customer_id for fact in changed.values())))
    for order_id, fact in changed.items():
        summary = summaries.get(fact.customer_id)
        if summary is None:
            summary = summaries[fact.customer_id] = _empty_summary(fact.customer_id)
        _move(summary, before.get(order_id), fact)

    return BatchChanges(
        upserts=(
            Upsert(table=customer_order_facts, rows=[fact.row() for fact in changed.values()], key=("order_id",)),
            Upsert(table=customer_summaries, rows=[_summary_row(row) for row in summaries.values()], key=("customer_id",)),
        ),
        streams={order_id: fact.version for order_id, fact in changed.items()},
    )


# Bump the version when the fold changes: projector processes then rebuild it blue-green (see the README).
PROJECTOR = Projector(plan=plan, tables=(customer_summaries, customer_order_facts), version=2)
