"""Handing an orderUpdated subscription over to a compact delivery road after its first result.

An open subscription on strawberry's road holds about 125 objects for as long as it is open
(graphql-core's subscription iterator and execution context, strawberry's operation, its
extensions and their hooks, five async generators, the operation's task), some 24 KB: 1.2 GB
for 50,000 of them. The first result of orderUpdated takes that road unchanged (parsing,
validation, every limit, authentication and per-customer authorization, the compiled
renderer, metrics), and then the WebSocket handler may take the subscription over
(orderly/compact_subscriptions.py): when it offers a Handoff (HANDOFF, set in the operation's
task), the resolver registers an OrderWatch with the tracker before it reads the view (as
order_updates listens before it reads), yields the first view, and once the handler has
accepted the handoff it returns and leaves the watch registered; the handler then keeps only
the watch, which re-reads, renders and sends each newer version itself.

When the handler declines (the first result had errors, or no compiled renderer rendered
it), the resolver goes on reading the watch as an inbox, exactly as order_updates does.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextvars import ContextVar
from typing import Any, Protocol, TypeGuard

from eventstore.fanout import Inbox
from eventstore.messages import Notice, ProjectionAdvanced, StreamParked
from projections.consistency import OrderReader
from projections.order_views.queries import NAME as ORDER_VIEWS
from projections.order_views.queries import OrderView
from resolvers.compiled_objects import Renderer


class Watches(Protocol):
    """Registers inboxes for one stream's notices (projections.tracker.ProjectionTracker)."""

    def watch(self, name: str, key: str, inbox: Inbox) -> None:
        """Register."""
        ...

    def unwatch(self, name: str, key: str, inbox: Inbox) -> None:
        """Unregister."""
        ...


class OrderWatch(Inbox):
    """One order's notices for one subscription: an inbox until `on_notice` is set, then a callback."""

    __slots__ = ("on_notice", "order_id", "reader", "tracker", "version")

    def __init__(self, tracker: Watches, reader: OrderReader, order_id: str) -> None:
        super().__init__()
        self.tracker = tracker
        self.reader = reader
        self.order_id = order_id
        self.version = 0
        self.on_notice: Callable[[OrderWatch], None] | None = None

    def put(self, notice: Notice) -> None:
        """Queue the notice, or (handed over) tell the owner that the order may have a newer version."""
        on_notice = self.on_notice
        if on_notice is None:
            super().put(notice)
        elif concerns(notice, self.order_id, self.version):
            on_notice(self)

    def pending(self) -> bool:
        """Whether a queued notice may concern a newer version (read when the watch is handed over)."""
        notices = self._notices
        if not notices:
            return False
        return any(concerns(notice, self.order_id, self.version) for notice in notices)

    def register(self) -> None:
        """Start receiving the order's notices."""
        self.tracker.watch(ORDER_VIEWS, self.order_id, self)

    def unregister(self) -> None:
        """Stop receiving them."""
        self.tracker.unwatch(ORDER_VIEWS, self.order_id, self)


def concerns(notice: Notice, order_id: str, version: int) -> bool:
    """Whether a notice may mean a version of the order newer than `version` (order_updates' rule)."""
    if isinstance(notice, StreamParked):
        return False
    if not isinstance(notice, ProjectionAdvanced):
        return True  # RESYNC: re-read
    announced = notice.streams.get(order_id)
    return announced is not None and announced > version


class Handoff:
    """What a WebSocket handler offers one operation, and what the operation leaves for it."""

    __slots__ = ("accepted", "count_errors", "finishers", "renderer", "watch")

    def __init__(self) -> None:
        self.watch: OrderWatch | None = None  # set by the resolver once its first view is yielded
        self.renderer: Renderer | None = None  # the compiled renderer of the first result's order
        self.accepted = False  # set by the handler after sending the first result
        self.finishers: list[Callable[[], None]] = []  # run when the handed-over subscription ends
        self.count_errors: Callable[[list[Any]], None] | None = None  # the operation metrics' error count, if on

    def note_root_renderer(self, renderer: Renderer) -> None:
        """The compiled renderer that rendered the operation's root object (resolvers/compiled_objects.py)."""
        self.renderer = renderer

    def finish(self) -> None:
        """The subscription has ended (after the handoff): run what its operation left to do at its end."""
        finishers, self.finishers = self.finishers, []
        for finisher in finishers:
            finisher()


# Set by the WebSocket handler in the operation's task; read by the resolver and the metrics.
HANDOFF: ContextVar[Handoff | None] = ContextVar("orderly_update_handoff", default=None)


def accepted_handoff() -> Handoff | None:
    """The current operation's handoff when the handler has taken the operation over, else None."""
    handoff = HANDOFF.get()
    return handoff if handoff is not None and handoff.accepted else None


async def order_updates_handed_off(
    tracker: Watches, reader: OrderReader, order_id: str, handoff: Handoff
) -> AsyncGenerator[OrderView, None]:
    """order_updates (projections/consistency.py), which stops after its first view once the handler accepts the handoff."""
    watch = OrderWatch(tracker, reader, order_id)
    watch.register()
    owned = True
    try:
        view = await reader.get(order_id)
        if view is not None:
            watch.version = view.version
            handoff.watch = watch
            yield view
            if handoff.accepted:
                owned = False  # the handler owns the registered watch now
                return
            handoff.watch = None  # declined: this generator goes on as order_updates
        view = None
        while True:
            notice = await watch.get()
            if notice is None or not concerns(notice, order_id, watch.version):
                continue
            view = await reader.get(order_id)
            if view is not None and view.version > watch.version:
                watch.version = view.version
                yield view
            view = None
    finally:
        if owned:
            watch.unregister()
            if handoff.watch is watch:
                handoff.watch = None  # nothing left for the handler to release


def wants(handoff: Handoff | None) -> TypeGuard[Handoff]:
    """Whether an operation was offered a handoff it has not used yet."""
    return isinstance(handoff, Handoff) and handoff.watch is None and not handoff.accepted
