"""orderProjected subscriptions a WebSocket handler has taken over while they wait.

The resolver ran on strawberry's road up to its wait and handed the wait over
(resolvers/projected_handoff.py). Each is then one ProjectedOperation in the socket's
operation table and its ProjectedWatch in the tracker: no task, no generator while it waits.
A notice that may concern the order starts one short task that re-reads it (and asks the
tracker about a parking when wait_for_order_version would); a timer ends it at its deadline.
The end is what strawberry's road sends: the order, executed by graphql-core on the
operation's own document (its compiled renderer when the document cache kept it; once a
result of the document was rendered so, that renderer alone, as for orderUpdated), then
`complete`; or the error (CONSISTENCY_TIMEOUT, PROJECTION_FAILED, a failed read) as a result
with no data, then `complete`. Errors are masked and counted, the wait and the operation timed
as on strawberry's road; the confirmation span wraps the result.
"""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import ref

from orderly.compact_subscriptions import DELIVERIES, CompactOperation, OrderOfView
from projections.metrics import FAILED, REACHED, TIMED_OUT
from projections.order_views.queries import NAME as ORDER_VIEWS
from projections.order_views.queries import OrderView
from resolvers.compiled_objects import ROOT_RENDERED, DocumentPlans, Renderer
from resolvers.confirmation import confirmation
from resolvers.document_cache import CachedDocument
from resolvers.projected_handoff import ProjectedWatch, timeout_error
from resolvers.update_handoff import Handoff, OrderWatch
from schema.types import Order


class ProjectedOperation(CompactOperation):
    """One handed-over orderProjected in a socket's operation table (`sending`: a look is under way)."""

    __slots__ = ("expired", "timer")

    def __init__(
        self, handler: Any, operation_id: str, handoff: Handoff, request: tuple[Any, ...], document: CachedDocument | None,
        *, legacy: bool,
    ) -> None:
        super().__init__(handler, operation_id, handoff, "", request, legacy=legacy)
        self.document = document
        self.expired = False
        self.timer: asyncio.TimerHandle | None = None

    @property
    def wait(self) -> ProjectedWatch:
        watch = self.watch
        assert isinstance(watch, ProjectedWatch)
        return watch

    def start(self) -> None:
        """Wait for the order's notices and the deadline; a notice that came during the handoff is acted on."""
        DELIVERIES.open += 1
        wait = self.wait
        wait.on_notice = self.due
        if wait.deadline is not None:
            self.timer = asyncio.get_running_loop().call_at(wait.deadline, self.expire)
        if wait.pending():
            self.due(wait)

    def due(self, watch: OrderWatch) -> None:
        """The wait may be over: look (once at a time; again after a look under way)."""
        if self.completed:
            return
        if self.sending:
            self.again = True
            return
        self.sending = True
        DELIVERIES.spawn(self.look())

    def expire(self) -> None:
        """The deadline: time out, after the look under way (whose read may still show the version)."""
        self.timer = None
        self.expired = True
        self.due(self.watch)

    async def look(self) -> None:
        """wait_for_order_version's loop body, once per batch of notices."""
        wait = self.wait
        try:
            while not self.completed:
                self.again = False
                if wait.parked_at is not None:
                    await self.end_failed(wait.parked_error(wait.parked_at))
                    return
                if self.expired:
                    await self.end_timed_out()
                    return
                view = await wait.reader.get(wait.order_id)
                if self.completed:
                    return
                wait.saw(view)
                if wait.reached(view):
                    await self.end_reached(view)  # type: ignore[arg-type]
                    return
                if wait.wants_parked_check():
                    parked_at = await wait.parked_version()
                    if parked_at is not None:
                        await self.end_failed(wait.parked_error(parked_at))
                        return
                if not (self.again or self.expired):
                    return
        except Exception as error:  # noqa: BLE001 - the read failed: strawberry's road sends it as the result
            await self.end_failed(error)
        finally:
            self.sending = False

    async def end_reached(self, view: OrderView) -> None:
        """The result, then complete."""
        self.wait.end_wait(REACHED)
        with confirmation("orderProjected", ORDER_VIEWS, view.position):
            await self.deliver_view(view)
        await self.end_with_complete()

    async def deliver_view(self, view: OrderView) -> None:
        """The order as the operation selects it: with the renderer an earlier result of the same
        document was rendered with (RENDERED), else graphql-core's executor, which may leave one."""
        known = known_rendering(self.document, self.request[2])
        if known is not None:
            renderer, key = known
            try:
                data = {key: renderer(OrderOfView(view))}
            except Exception:  # noqa: BLE001, S110 - graphql-core's road below gives the located errors
                pass
            else:
                await self.send_result(data)
                return
        rendered: list[Renderer] = []
        token = ROOT_RENDERED.set(rendered.append)
        try:
            result = await self.executed(Order.from_view(view))
        finally:
            ROOT_RENDERED.reset(token)
        if rendered and not result.errors and isinstance(result.data, dict) and len(result.data) == 1:
            remember_rendering(self.document, self.request[2], rendered[0], next(iter(result.data)))
        if not self.completed:
            await self.send_result(result.data, result.errors)

    async def end_timed_out(self) -> None:
        wait = self.wait
        wait.end_wait(TIMED_OUT)
        await self.fail(timeout_error(wait.order_id, wait.min_version, wait.timeout_ms))

    async def end_failed(self, error: Exception) -> None:
        self.wait.end_wait(FAILED)
        await self.fail(error)

    def close(self) -> None:
        """Ended (result sent, stopped, socket closed): no timer left behind."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        super().close()


# Per cached document (by identity: it compares by value) and operation name, the renderer that rendered
# its order and the response key; only for documents whose selection no @skip/@include variable changes
# (resolvers/compiled_objects.py keys renderers by those values), so the renderer is the same for every
# request of the document. An entry goes when the document cache drops its document.
RENDERED: dict[int, tuple[ref[CachedDocument], dict[str | None, tuple[Renderer, str]]]] = {}


def known_rendering(document: CachedDocument | None, operation_name: str | None) -> tuple[Renderer, str] | None:
    """The renderer and response key an earlier result of the document's operation was rendered with."""
    entry = None if document is None else RENDERED.get(id(document))
    if entry is None or entry[0]() is not document:
        return None
    return entry[1].get(operation_name)


def remember_rendering(document: CachedDocument | None, operation_name: str | None, renderer: Renderer, key: str) -> None:
    """Keep the renderer that rendered a result of the document's operation, when no variable changes its selection."""
    if document is None or not isinstance(document.plans, DocumentPlans) or document.plans.directive_variables:
        return
    entry = RENDERED.get(id(document))
    if entry is None or entry[0]() is not document:
        number = id(document)
        entry = RENDERED[number] = (ref(document, lambda _: RENDERED.pop(number, None)), {})
    entry[1][operation_name] = (renderer, key)
