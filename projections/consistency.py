"""Read-your-writes: wait for an order's view to reach a version, or follow its new versions.

Both listen to the tracker before reading the view, so a notice that arrives between the
read and the wait is still in the inbox (and a lost one turns into RESYNC, then a re-read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from eventstore.bus import Subscription
from eventstore.messages import Notice, ProjectionAdvanced
from projections.metrics import ORDER_VERSION, observed_wait
from projections.order_views.queries import NAME as ORDER_VIEWS
from projections.order_views.queries import OrderView


class OrderReader(Protocol):
    """Reads one order's current view (OrderViewQueries, or a batching reader in front of it)."""

    async def get(self, order_id: str) -> OrderView | None:
        """The view, or None."""
        ...


class ProjectionWatch(Protocol):
    """Where a projection stands and what it announces (projections.tracker.ProjectionTracker)."""

    def listen(self, name: str, key: str | None = None) -> AbstractAsyncContextManager[Subscription]:
        """An inbox of the projection's notices (for one stream with a key), RESYNC when some were missed."""
        ...

    async def wait_for_position(self, name: str, position: int, timeout: float | None) -> bool:
        """Whether the projection's checkpoint reaches position within timeout seconds."""
        ...


def _concerns(notice: Notice, order_id: str, version: int) -> bool:
    if not isinstance(notice, ProjectionAdvanced):
        return True  # RESYNC: re-read
    announced = notice.streams.get(order_id)
    return announced is not None and announced > version


async def wait_for_order_version(
    tracker: ProjectionWatch, orders: OrderReader, order_id: str, min_version: int, timeout: float | None
) -> OrderView | None:
    """The order's view once it reaches min_version, or what it has when timeout (None: never) passes."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    with observed_wait(ORDER_VERSION) as outcome:
        async with tracker.listen(ORDER_VIEWS, key=order_id) as inbox:
            view = await orders.get(order_id)
            while view is None or view.version < min_version:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                notice = await inbox.get(timeout=remaining)
                if notice is None:
                    break
                if _concerns(notice, order_id, 0 if view is None else view.version):
                    view = await orders.get(order_id)
        outcome.reached = view is not None and view.version >= min_version
    return view


async def order_updates(
    tracker: ProjectionWatch, orders: OrderReader, order_id: str
) -> AsyncGenerator[OrderView, None]:
    """The order's current view (when it has one), then each newer version, until closed."""
    async with tracker.listen(ORDER_VIEWS, key=order_id) as inbox:
        view = await orders.get(order_id)
        version = 0
        if view is not None:
            version = view.version
            yield view
        while True:
            notice = await inbox.get()
            if notice is None or not _concerns(notice, order_id, version):
                continue
            view = await orders.get(order_id)
            if view is not None and view.version > version:
                version = view.version
                yield view
