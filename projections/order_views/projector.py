"""Folds order events into order_views, a batch at a time: at most one read, and one upsert."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.events import OrderCancelled, OrderCreated, OrderItemAdded, OrderShipped
from domain.handlers import ORDER_STREAM
from domain.ports import RecordedEvent
from domain.values import Address, LineItem, OrderStatus
from projections.changes import BatchChanges, Upsert
from projections.money import format_amount, to_minor
from projections.order_views.tables import ORDER_ROW, order_views
from projections.projector import ProjectionGapError, Projector, fold_in_order
from projections.read_models import KeyedRows


@dataclass(slots=True, kw_only=True)
class _Draft:
    """A row being folded: mutable while the batch is applied, written back at the end."""

    order_id: str
    customer_id: str
    status: OrderStatus
    items: list[dict[str, Any]]
    item_count: int
    total: Decimal
    shipping_address: dict[str, Any]
    created_at: datetime
    shipped_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    version: int = 0
    position: int = 0

    def row(self) -> dict[str, Any]:
        address = self.shipping_address
        words = [
            self.order_id,
            self.customer_id,
            *dict.fromkeys(item["product_id"] for item in self.items),
            address["line1"],
            address.get("line2") or "",
            address["city"],
            address["postal_code"],
            address["country"],
        ]
        return {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "status": self.status.value,
            "items": self.items,
            "item_count": self.item_count,
            "total_amount": format_amount(self.total),
            "total_minor": to_minor(self.total),
            "shipping_address": address,
            "created_at": self.created_at,
            "shipped_at": self.shipped_at,
            "cancelled_at": self.cancelled_at,
            "cancel_reason": self.cancel_reason,
            "version": self.version,
            "position": self.position,
            "search_text": " ".join(word for word in words if word).casefold(),
        }


def _item(item: LineItem) -> dict[str, Any]:
    return {"product_id": item.product_id, "quantity": item.quantity, "price": format_amount(item.price)}


def _address(address: Address) -> dict[str, Any]:
    return {
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "postal_code": address.postal_code,
        "country": address.country,
    }


def _created(event: OrderCreated) -> _Draft:
    return _Draft(
        order_id=event.order_id,
        customer_id=event.customer_id,
        status=OrderStatus.CREATED,
        items=[_item(item) for item in event.items],
        item_count=sum(item.quantity for item in event.items),
        total=sum((item.line_total for item in event.items), Decimal(0)),
        shipping_address=_address(event.shipping_address),
        created_at=event.occurred_at,
    )


async def _load(reader: KeyedRows, order_ids: Sequence[str]) -> dict[str, _Draft]:
    drafts: dict[str, _Draft] = {}
    for row in await reader.rows_by_key(ORDER_ROW, order_ids):
        values = dict(row)
        values["total"] = Decimal(values.pop("total_amount"))
        values["status"] = OrderStatus(values["status"])
        values["items"] = list(values["items"])
        drafts[values["order_id"]] = _Draft(**values)
    return drafts


def _fold(draft: _Draft | None, recorded: RecordedEvent) -> _Draft:
    event = recorded.decoded()  # the runner refuses unreadable events already (projections/unreadable.py)
    match event:
        case OrderCreated() if draft is None:
            draft = _created(event)
        case OrderItemAdded() if draft is not None:
            draft.items.append(_item(event.item))
            draft.item_count += event.item.quantity
            draft.total += event.item.line_total
        case OrderShipped() if draft is not None:
            draft.status = OrderStatus.SHIPPED
            draft.shipped_at = event.occurred_at
        case OrderCancelled() if draft is not None:
            draft.status = OrderStatus.CANCELLED
            draft.cancelled_at = event.occurred_at
            draft.cancel_reason = event.reason
        case _:
            raise ProjectionGapError(recorded.stream_id, 0 if draft is None else draft.version, recorded.version)
    draft.version = recorded.version
    draft.position = recorded.position
    return draft


async def plan(reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
    """Fold a batch into order_views rows; events the rows already reflect are ignored."""
    relevant = [recorded for recorded in events if recorded.stream_type == ORDER_STREAM]
    first_versions: dict[str, int] = {}
    for recorded in relevant:
        first_versions.setdefault(recorded.stream_id, recorded.version)
    # A stream the batch starts (its version 1 is here) has no row yet: skip the read. Were
    # one there after all, the upsert's version guard keeps the newer row.
    drafts = await _load(reader, [stream for stream, version in first_versions.items() if version > 1])
    changed = fold_in_order(drafts, relevant, _fold)
    rows = [draft.row() for draft in changed.values()]
    return BatchChanges(
        upserts=(Upsert(table=order_views, rows=rows, key=("order_id",), newer="version"),),
        streams={order_id: draft.version for order_id, draft in changed.items()},
    )


# Bump the version when the fold changes: projector processes then rebuild it blue-green (see the README).
PROJECTOR = Projector(plan=plan, tables=(order_views,), version=1)
