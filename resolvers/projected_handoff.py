"""Handing an orderProjected subscription over to a compact road while it waits.

orderProjected emits the order once its view reaches minVersion, then completes. On strawberry's
road each waiting subscription keeps its operation's task, generators and execution context, and
its one result goes through graphql-core's per-event execution and strawberry's result handling:
about 1 ms of CPU per subscription in scenario 5. Here, when the WebSocket handler offers a
Handoff (resolvers/update_handoff.py), the resolver runs as before up to the wait (argument
checks, authorization, the reader a customer may use, the watch registered before the first
read, the parked check) and, when the first read does not show minVersion yet, leaves the wait
to the handler (orderly/compact_projected.py): it sets the handoff's watch, accepts it and
returns without a result. The handler then keeps only the watch: a notice that may concern the
order re-reads it, and the result, the timeout and a parking end it with the messages
strawberry's road sends (wait_for_order_version's rules, projections/consistency.py).
"""

from __future__ import annotations

import time
from typing import cast

from eventstore.messages import Notice, ProjectionAdvanced, StreamParked
from projections.consistency import OrderReader, ProjectionWatch, StreamParkedError
from projections.metrics import CANCELLED, FAILED, ORDER_VERSION, REACHED, WAIT_SECONDS
from projections.order_views.queries import NAME as ORDER_VIEWS
from projections.order_views.queries import OrderView
from resolvers.update_handoff import Handoff, OrderWatch, Watches, concerns
from schema.errors import ConsistencyTimeoutError


class ProjectedWatch(OrderWatch):
    """One orderProjected wait: the order's notices, and what the wait has seen so far."""

    __slots__ = ("checked", "deadline", "min_version", "parked_at", "resynced", "seen", "started", "timeout_ms", "waiting")

    def __init__(  # noqa: PLR0913 - the wait's arguments, as wait_for_order_version's
        self,
        tracker: Watches,
        reader: OrderReader,
        order_id: str,
        min_version: int,
        deadline: float | None,
        timeout_ms: int | None,
    ) -> None:
        super().__init__(tracker, reader, order_id)
        self.min_version = min_version
        self.deadline = deadline  # the event loop's time, None: no timeout
        self.timeout_ms = timeout_ms
        self.seen = False  # the last read showed the order (a parking may then be told)
        self.checked = False  # the parked table was read since the order first showed
        self.resynced = False  # a RESYNC came since the last read: a parking notice may have been lost
        self.parked_at: int | None = None  # a StreamParked notice for the order came
        self.started = time.perf_counter()
        self.waiting = True  # the wait's metric is not recorded yet

    def put(self, notice: Notice) -> None:
        """Queue the notice, or (handed over) tell the owner when it may end the wait."""
        on_notice = self.on_notice
        if on_notice is None:
            super().put(notice)
        elif self.note(notice):
            on_notice(self)

    def note(self, notice: Notice) -> bool:
        """Whether the notice calls for a look (wait_for_order_version's loop)."""
        if isinstance(notice, StreamParked):
            if notice.stream_id == self.order_id and self.seen:
                self.parked_at = notice.version
                return True
            return False
        if not isinstance(notice, ProjectionAdvanced):
            self.resynced = True
        return concerns(notice, self.order_id, self.version)

    def pending(self) -> bool:
        """Whether a notice queued before the handoff calls for a look."""
        notices, self._notices = self._notices, None
        return any([self.note(notice) for notice in notices or ()])

    def saw(self, view: OrderView | None) -> None:
        """The last read's view."""
        if view is None:
            self.seen, self.version = False, 0
        else:
            self.saw_order_at(view.version)

    def saw_order_at(self, version: int) -> None:
        """The last read showed the order at this version."""
        self.seen, self.version = True, version

    def reached(self, view: OrderView | None) -> bool:
        """Whether the view ends the wait."""
        return view is not None and view.version >= self.min_version

    def wants_parked_check(self) -> bool:
        """After a read below minVersion: whether to ask the tracker (the first time, or after a RESYNC)."""
        wanted = self.seen and (not self.checked or self.resynced)
        self.resynced = False
        if wanted:
            self.checked = True
        return wanted

    async def parked_version(self) -> int | None:
        """The version the tracker says the order's stream is parked at (confirmed in the table), or None."""
        tracker = cast(ProjectionWatch, self.tracker)
        return await tracker.parked_version(ORDER_VIEWS, self.order_id)

    def parked_error(self, parked_at: int) -> StreamParkedError:
        """The error that ends the wait on a parked stream."""
        return StreamParkedError(self.order_id, self.min_version, parked_at)

    def end_wait(self, outcome: str) -> None:
        """Record the wait's metric once (projections.metrics.observed_wait's labels)."""
        if self.waiting:
            self.waiting = False
            WAIT_SECONDS.labels(ORDER_VERSION, outcome).observe(time.perf_counter() - self.started)

    def unregister(self) -> None:
        """Stop receiving notices; a wait ended without an outcome counts as cancelled."""
        super().unregister()
        self.end_wait(CANCELLED)


async def projected_or_handed_off(
    tracker: ProjectionWatch,
    reader: OrderReader,
    order_id: str,
    min_version: int,
    deadline: float | None,
    timeout_ms: int | None,
    handoff: Handoff,
) -> OrderView | None:
    """The order's view when the first read shows minVersion; else None, the wait handed over
    (StreamParkedError when the order is parked already, as wait_for_order_version)."""
    watch = ProjectedWatch(cast(Watches, tracker), reader, order_id, min_version, deadline, timeout_ms)
    watch.register()  # before the read, as wait_for_order_version listens before it reads
    try:
        view = await reader.get(order_id)
        watch.saw(view)
        if watch.reached(view):
            watch.end_wait(REACHED)
            watch.unregister()
            return view
        if watch.wants_parked_check():
            parked_at = await tracker.parked_version(ORDER_VIEWS, order_id)
            if parked_at is not None:
                raise watch.parked_error(parked_at)
    except Exception:
        watch.end_wait(FAILED)
        watch.unregister()
        raise
    except BaseException:
        watch.unregister()  # cancelled
        raise
    handoff.watch = watch
    handoff.accepted = True
    return None


def timeout_error(order_id: str, min_version: int, timeout_ms: int | None) -> ConsistencyTimeoutError:
    """The error of a wait that ran out of time (both roads)."""
    return ConsistencyTimeoutError(f"order {order_id} did not reach version {min_version} within {timeout_ms} ms")


def handed_over_wait(handoff: Handoff | None) -> ProjectedWatch | None:
    """The wait the resolver handed over, if it did."""
    if handoff is None or not handoff.accepted or not isinstance(handoff.watch, ProjectedWatch):
        return None
    return handoff.watch
