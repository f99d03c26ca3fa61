"""Read-your-writes waits over the order_views notices: subscribe, then read, then wait.

Subscribing to the tracker before reading the view means a notice that lands between the
read and the wait is already in the inbox, so no wake-up is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from eventstore.bus import RESYNC
from projections.order_views.queries import OrderView, OrderViewQueries
from projections.tracker import ProjectionTracker

ORDER_VIEWS = "order_views"


async def order_versions(
    tracker: ProjectionTracker, orders: OrderViewQueries, order_id: str
) -> AsyncIterator[OrderView]:
    """The order's current view (when it has one), then each newer version the projection applies."""
    async with tracker.listen(ORDER_VIEWS) as inbox:
        last_version = 0
        view = await orders.get(order_id)
        while True:
            if view is not None and view.version > last_version:
                last_version = view.version
                yield view
            notice = await inbox.get()
            if notice is None:
                continue
            if notice is RESYNC or notice.get("resync") or order_id in notice.get("streams", {}):
                view = await orders.get(order_id)


async def wait_for_order(
    tracker: ProjectionTracker,
    orders: OrderViewQueries,
    order_id: str,
    min_version: int,
    timeout: float | None,
) -> OrderView | None:
    """The view once it reaches min_version; None if it does not within timeout seconds."""
    versions = order_versions(tracker, orders, order_id)
    try:
        async with asyncio.timeout(timeout):
            async for view in versions:
                if view.version >= min_version:
                    return view
    except TimeoutError:
        return None
    finally:
        await versions.aclose()
    return None
