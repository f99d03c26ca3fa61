"""The bench's orders: deterministic ids, customers, products and addresses, and each
order's event history, so that load scripts can name any loaded order without a list."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.events import (
    Event,
    OrderCancelled,
    OrderCreated,
    OrderItemAdded,
    OrderShipped,
)
from domain.values import Address, LineItem

# Order i of the loaded set is ORDER_ID_PREFIX + 12 hex digits of i: a valid UUID that a
# wrk Lua script can make for a random i (see bench/load.py).
ORDER_ID_PREFIX = "00000000-0000-4000-8000-"
ORDERS_PER_CUSTOMER = 20
PRODUCTS = 200
CITIES = (
    "springfield", "riverton", "lakeside", "fairview", "georgetown", "madison", "clinton",
    "arlington", "ashland", "burlington", "clayton", "dayton", "franklin", "greenville",
    "hudson", "jackson", "kingston", "lebanon", "milton", "newport", "oxford", "salem",
    "shelby", "trenton", "union", "vernon", "winchester", "bristol", "chester", "dover",
    "florence", "hamilton", "lexington", "marion", "monroe", "oakland", "plymouth",
    "richmond", "sheffield", "warren",
)
STATUSES = ("CREATED", "SHIPPED", "CANCELLED")
HISTORY_START = datetime(2025, 1, 1, tzinfo=UTC)


def order_id(index: int) -> str:
    """The id of loaded order number `index`."""
    return f"{ORDER_ID_PREFIX}{index:012x}"


def customer_count(orders: int) -> int:
    """How many customers share `orders` orders (about 20 each, so a page of 20 is full)."""
    return max(1, orders // ORDERS_PER_CUSTOMER)


def customer_id(index: int) -> str:
    """Customer number `index`."""
    return f"customer-{index:06d}"


def product_id(index: int) -> str:
    """Product number `index`."""
    return f"product-{index:03d}"


def line_item(rng: random.Random) -> LineItem:
    """A random line: one of PRODUCTS products, 1 to 3 of it, at a price with cents."""
    return LineItem(
        product_id=product_id(rng.randrange(PRODUCTS)),
        quantity=rng.randint(1, 3),
        price=Decimal(rng.randint(100, 20_000)) / 100,
    )


def address(rng: random.Random) -> Address:
    """A random shipping address in one of CITIES."""
    return Address(
        line1=f"{rng.randint(1, 999)} Main St",
        line2=None,
        city=rng.choice(CITIES).title(),
        postal_code=f"{rng.randint(10000, 99999)}",
        country="US",
    )


@dataclass(frozen=True)
class Dataset:
    """`orders` orders of `events_per_order` events each, interleaved in windows."""

    orders: int
    events_per_order: int
    seed: int = 7
    window: int = 1000

    @property
    def events(self) -> int:
        """Total events in the log."""
        return self.orders * self.events_per_order

    def history(self, index: int, rng: random.Random) -> list[Event]:
        """Order `index`'s events: created (2 items), items added, then shipped, cancelled or one more item."""
        oid = order_id(index)
        created_at = HISTORY_START + timedelta(seconds=index * 60)
        events: list[Event] = [
            OrderCreated(
                order_id=oid,
                customer_id=customer_id(rng.randrange(customer_count(self.orders))),
                items=(line_item(rng), line_item(rng)),
                shipping_address=address(rng),
                occurred_at=created_at,
            )
        ]
        for step in range(1, self.events_per_order):
            at = created_at + timedelta(minutes=step)
            last = step == self.events_per_order - 1
            roll = rng.random()
            if last and roll < 0.4:
                events.append(OrderShipped(order_id=oid, occurred_at=at))
            elif last and roll < 0.6:
                events.append(OrderCancelled(order_id=oid, reason="changed my mind", occurred_at=at))
            else:
                events.append(OrderItemAdded(order_id=oid, item=line_item(rng), occurred_at=at))
        return events

    def log(self) -> Iterator[tuple[str, int, Event]]:
        """(stream id, version, event) in log order: orders interleave within windows, as a
        busy shop's log does, so one projector batch touches many orders."""
        rng = random.Random(self.seed)
        for start in range(0, self.orders, self.window):
            histories = [self.history(index, rng) for index in range(start, min(start + self.window, self.orders))]
            for step in range(self.events_per_order):
                for history in histories:
                    event = history[step]
                    yield event.order_id, step + 1, event
