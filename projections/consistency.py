"""Read-your-writes: wait for an order's view to reach a version, or follow its new versions.

Both listen to the tracker before reading the view, so a notice that arrives between the
read and the wait is still in the inbox (and a lost one turns into RESYNC, then a re-read).

A wait on an order whose stream is parked (projections/parking.py) cannot succeed: it
fails at once with StreamParkedError, whether the stream was parked before the wait (the
tracker is asked after listening and before waiting, and again after a RESYNC, in case
the notice was lost; it confirms a parking in the table) or while it waits (the
StreamParked notice, or the tracker's next poll when the notice was lost). Only when the reader shows
the order: a customer's reader hides other customers' orders, and a parking must not
reveal that one exists (an order parked at its creation, which has no view, therefore
waits and times out as before).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from eventstore.bus import Subscription
from eventstore.messages import Notice, ProjectionAdvanced, StreamParked
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

    async def parked_version(self, name: str, stream_id: str) -> int | None:
        """The version the stream is parked at in the projection, None when it is not parked (or not known to be)."""
        ...


class StreamParkedError(Exception):
    """The order's view cannot reach the asked version: its stream is parked after a projection error."""

    def __init__(self, order_id: str, min_version: int, parked_at: int) -> None:
        super().__init__(
            f"order {order_id} cannot reach version {min_version}: the projection {ORDER_VIEWS} parked it at "
            f"version {parked_at} after an error; an operator can retry or skip it"
        )
        self.order_id = order_id
        self.parked_at = parked_at


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
            checked = False  # whether the table was read since the reader first showed the order
            if view is not None and view.version < min_version:
                await _refuse_if_parked(tracker, order_id, min_version)
                checked = True
            while view is None or view.version < min_version:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                notice = await inbox.get(timeout=remaining)
                if notice is None:
                    break
                if isinstance(notice, StreamParked):
                    if notice.stream_id == order_id and view is not None:
                        raise StreamParkedError(order_id, min_version, notice.version)
                    continue
                if _concerns(notice, order_id, 0 if view is None else view.version):
                    view = await orders.get(order_id)
                    # After a RESYNC a parking notice may be lost; when the order first shows, one
                    # may have come (and been ignored) before it did.
                    if view is not None and view.version < min_version:
                        if not checked or not isinstance(notice, ProjectionAdvanced):
                            await _refuse_if_parked(tracker, order_id, min_version)
                            checked = True
        outcome.reached = view is not None and view.version >= min_version
    return view


async def _refuse_if_parked(tracker: ProjectionWatch, order_id: str, min_version: int) -> None:
    parked_at = await tracker.parked_version(ORDER_VIEWS, order_id)
    if parked_at is not None:
        raise StreamParkedError(order_id, min_version, parked_at)


async def order_updates(tracker: ProjectionWatch, orders: OrderReader, order_id: str) -> AsyncGenerator[OrderView, None]:
    """The order's current view (when it has one), then each newer version, until closed."""
    async with tracker.listen(ORDER_VIEWS, key=order_id) as inbox:
        view = await orders.get(order_id)
        version = 0
        if view is not None:
            version = view.version
            yield view
        # An order may stay quiet for hours while this waits: hold its version, not its view
        # (rows and items of every open subscription).
        view = None
        while True:
            notice = await inbox.get()
            if notice is None or isinstance(notice, StreamParked) or not _concerns(notice, order_id, version):
                continue
            view = await orders.get(order_id)
            if view is not None and view.version > version:
                version = view.version
                yield view
            view = None
