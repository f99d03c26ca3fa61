"""orderUpdated subscriptions a WebSocket handler has taken over after their first result.

Each is one CompactOperation (a slotted record in the socket's operation table) and its
OrderWatch (the tracker's inbox for the order, resolvers/update_handoff.py): no task, no
generator, no graphql-core execution context while it waits. A notice that may concern a
newer version marks it due; one task per process (CompactDeliveries) then reads each due
order once per reader (a staff reader is shared; a customer's hides other customers'
orders, as on strawberry's road), renders each newer view once per compiled renderer with
the renderer that rendered the first result, and sends the same message strawberry would
(`next` for graphql-transport-ws, `data` for legacy graphql-ws) through the socket's own
adapter. A renderer that gives up (a value it cannot coerce) is answered by graphql-core's
executor on the same document, with its errors and paths; a failed read ends the
subscription with the masked error and `complete`, as strawberry's road does.

What is not moved: the operation's log scope and trace span end with the first result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from inspect import isawaitable
from typing import Any

from graphql import GraphQLError, execute, parse
from strawberry.http.exceptions import WebSocketDisconnected

from projections.order_views.queries import OrderView
from resolvers.compiled_objects import use_document
from resolvers.document_cache import CachedDocument
from resolvers.update_handoff import Handoff, OrderWatch
from schema.types import Order

log = logging.getLogger(__name__)


# Order.from_view copies these attributes from the view unchanged (strawberry.ID and Position are
# NewTypes); tests/api/test_compact_subscriptions.py checks that they are the view's very objects.
SAME_AS_VIEW = frozenset({
    "order_id", "customer_id", "status", "item_count", "total_amount", "shipping_address", "created_at",
    "shipped_at", "cancelled_at", "cancel_reason", "version", "position",
})


class OrderOfView:
    """An Order read attribute by attribute from its view: Order.from_view (its items above all) is
    built only when a renderer reads an attribute it converts. Most subscriptions select a few scalars."""

    __slots__ = ("_order", "_view")

    def __init__(self, view: OrderView) -> None:
        self._view = view
        self._order: Order | None = None

    def __getattr__(self, name: str) -> Any:
        if name in SAME_AS_VIEW:
            return getattr(self._view, name)
        order = self._order
        if order is None:
            order = self._order = Order.from_view(self._view)
        return getattr(order, name)

    def order(self) -> Order:
        """The Order itself (graphql-core's road gets the real object)."""
        if self._order is None:
            self._order = Order.from_view(self._view)
        return self._order


class CompactOperation:
    """One handed-over subscription in a socket's operation table."""

    __slots__ = ("again", "completed", "document", "handler", "handoff", "id", "key", "legacy", "request", "sending", "watch")

    task = None  # in the transport handler's table, where strawberry's operations have their task

    def __init__(
        self, handler: Any, operation_id: str, handoff: Handoff, key: str, request: tuple[Any, ...], *, legacy: bool
    ) -> None:
        assert handoff.watch is not None
        self.handler = handler
        self.id = operation_id
        self.handoff = handoff
        self.watch: OrderWatch = handoff.watch
        self.key = key
        self.request = request  # (query, variables, operation name): graphql-core's road when the renderer gives up
        self.document: CachedDocument | None = None  # the operation's parsed document, when the document cache kept it
        self.legacy = legacy
        self.completed = False
        self.sending = False  # a version is on its way to the socket
        self.again = False  # a newer version may be due once it has gone

    def start(self) -> None:
        """Receive the order's notices; a notice that came while the operation was handed over is acted on."""
        DELIVERIES.open += 1
        self.watch.on_notice = self.due
        if self.watch.pending():
            self.due(self.watch)

    def due(self, watch: OrderWatch) -> None:
        """The order may have a newer version."""
        DELIVERIES.mark(self)

    def close(self) -> None:
        """The subscription has ended (stopped, socket closed, failed): unregister, and count its end."""
        if self.watch.on_notice is None and self.completed:
            return
        if self.watch.on_notice is not None:
            DELIVERIES.open -= 1
        self.completed = True
        self.watch.on_notice = None
        self.watch.unregister()
        self.handoff.finish()

    async def send_operation_message(self, message: Any) -> None:
        """strawberry's Operation.send_operation_message: a final message ends the operation first."""
        if self.completed:
            return
        if message["type"] in {"complete", "error"}:
            self.handler.forget_id(self.id)
            self.close()
        await self.handler.send_message(message)

    async def send_result(self, data: Any, errors: list[GraphQLError] | None = None) -> None:
        """The message strawberry sends for one result of this operation."""
        payload: dict[str, Any] = {"data": data}
        if errors:
            payload["errors"] = [error.formatted for error in errors]
        if self.legacy:
            message: dict[str, Any] = {"type": "data", "id": self.id, "payload": payload}
        else:
            message = {"id": self.id, "type": "next", "payload": payload}
        try:
            await self.handler.send_message(message)
        except WebSocketDisconnected:
            pass  # the socket's handler ends its operations

    async def deliver_then_look_again(self, order: OrderOfView, rendered: dict[Any, Any]) -> None:
        """Deliver in a task of its own: a socket that does not read (its transport paused) holds up only
        its own subscriptions, never the process's delivery round. Versions due meanwhile are read again
        after it, so the socket gets the newest one, in order."""
        try:
            await self.deliver(order, rendered)
        except Exception:  # noqa: BLE001 - one subscription's failure is not the round's
            log.exception("delivering subscription %s's update failed", self.id)
        finally:
            self.sending = False
            if self.again and not self.completed:
                self.again = False
                DELIVERIES.mark(self)

    async def deliver(self, order: OrderOfView, rendered: dict[Any, Any]) -> None:
        """Send a newer version (rendered once per renderer and response key for all its subscribers)."""
        renderer = self.handoff.renderer
        cache_key = (renderer, self.key)
        data = rendered.get(cache_key)
        if data is None:
            try:
                data = {self.key: renderer(order)}  # type: ignore[misc]
            except Exception:  # noqa: BLE001 - graphql-core's road gives the located errors
                await self.deliver_executed(order.order())
                return
            rendered[cache_key] = data
        if not self.completed:
            await self.send_result(data)

    async def deliver_executed(self, order: Order) -> None:
        """The version through graphql-core's executor on the operation's document, as strawberry runs each event."""
        result = await self.executed(order)
        if not self.completed:
            await self.send_result(result.data, result.errors)

    async def executed(self, order: Order) -> Any:
        """graphql-core's result for the order on the operation's document (errors masked and counted)."""
        schema = self.handler.schema
        query, variables, operation_name = self.request
        use_document(self.document)  # its compiled renderers (this runs in a delivery task of its own)
        result: Any = execute(
            schema._schema,  # noqa: SLF001
            parse(query) if self.document is None else self.document.document,
            root_value=order,
            context_value=self.handler.context,
            variable_values=variables,
            operation_name=operation_name,
            executor_class=schema.execution_context_class,
        )
        if isawaitable(result):
            result = await result
        if result.errors:
            schema.process_errors(result.errors, None)
            self.count_errors(result.errors)
        return result

    async def fail(self, error: Exception) -> None:
        """The read failed: strawberry's road sends the error as a result, then completes."""
        if self.completed:
            return
        graphql_error = error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)
        self.handler.schema.process_errors([graphql_error], None)
        self.count_errors([graphql_error])
        await self.send_result(None, [graphql_error])
        try:
            await self.end_with_complete()
        except WebSocketDisconnected:
            pass

    async def end_with_complete(self) -> None:
        """End the operation and send `complete` (graphql-transport-ws: strawberry's final-message rule)."""
        if self.legacy:
            self.handler.tasks.pop(self.id, None)
            self.close()
            await self.handler.send_message({"type": "complete", "id": self.id})
        else:
            await self.send_operation_message({"id": self.id, "type": "complete"})

    def count_errors(self, errors: list[GraphQLError]) -> None:
        if self.handoff.count_errors is not None:
            self.handoff.count_errors(errors)


class CompactDeliveries:
    """The process's due subscriptions, and the one task that delivers them."""

    def __init__(self) -> None:
        self._due: dict[CompactOperation, None] = {}
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()  # strong references to deliveries on their way
        self.rounds = 0  # delivery rounds so far (tests read it)
        self.open = 0  # handed-over subscriptions open now

    def mark(self, operation: CompactOperation) -> None:
        """Deliver the operation's newer version, if any, soon."""
        self._due[operation] = None
        task, loop = self._task, asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:  # a loop stopped in the middle of a round
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            await asyncio.sleep(0)  # the rest of this notice's fan-out first: one round for its batch
            while self._due:
                due, self._due = self._due, {}
                self.rounds += 1
                try:
                    await self._round(due)
                except Exception:
                    log.exception("delivering %d subscriptions' updates failed", len(due))
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _round(self, due: dict[CompactOperation, None]) -> None:
        groups: dict[tuple[int, str], list[CompactOperation]] = {}
        for operation in due:
            if not operation.completed:
                watch = operation.watch
                groups.setdefault((id(watch.reader), watch.order_id), []).append(operation)
        if not groups:
            return
        members = list(groups.values())
        views = await asyncio.gather(
            *(group[0].watch.reader.get(group[0].watch.order_id) for group in members), return_exceptions=True
        )
        sends: list[Coroutine[Any, Any, None]] = []
        for group, view in zip(members, views, strict=True):
            if isinstance(view, BaseException):
                if not isinstance(view, Exception):
                    raise view
                sends.extend(operation.fail(view) for operation in group)
                continue
            if view is None:
                continue
            order: OrderOfView | None = None
            rendered: dict[Any, Any] = {}
            for operation in group:
                if operation.completed or view.version <= operation.watch.version:
                    continue
                if operation.sending:
                    operation.again = True
                    continue
                operation.watch.version = view.version
                operation.sending = True
                if order is None:
                    order = OrderOfView(view)
                sends.append(operation.deliver_then_look_again(order, rendered))
        for send in sends:
            self.spawn(send)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one subscription's delivery in a task of its own, held until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)


# One per process, like the tracker's fan-out it is fed by.
DELIVERIES = CompactDeliveries()


def handed_over_key(handoff: Handoff, result: Any) -> str | None:
    """The response key under which the first result holds the order, when the handler may take the
    subscription over after it: a claimed watch, a compiled renderer, data and nothing else."""
    if handoff.watch is None or handoff.renderer is None:
        return None
    if getattr(result, "errors", None) or getattr(result, "extensions", None):
        return None
    data = getattr(result, "data", None)
    if not isinstance(data, dict) or len(data) != 1:
        return None
    (key,) = data
    return key if isinstance(data[key], dict) else None


def release(handoff: Handoff) -> None:
    """An accepted handoff the handler could not install (the operation was stopped meanwhile)."""
    watch = handoff.watch
    if watch is not None:
        watch.unregister()
    handoff.finish()
