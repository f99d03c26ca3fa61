"""The Subscription root: confirmations that a write has reached the read model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import cast

import strawberry

from eventstore import log_context
from projections.consistency import order_updates, wait_for_order_version
from projections.order_views.queries import NAME as ORDER_VIEWS
from resolvers.arguments import check_min_version, check_projection, timeout_seconds
from resolvers.authorization import ANY_ROLE, Authorized, visible_orders
from resolvers.confirmation import confirmation
from resolvers.input_values import ValidInput
from resolvers.projected_handoff import projected_or_handed_off, timeout_error
from resolvers.subscription_tally import SUBSCRIPTIONS
from resolvers.update_handoff import HANDOFF, Watches, order_updates_handed_off, wants
from schema.context import Context
from schema.errors import ConsistencyTimeoutError
from schema.scalars import Position
from schema.types import Order, ProjectionStatus

Info = strawberry.Info[Context, None]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        extensions=[ValidInput(), Authorized(ANY_ROLE)],
        description=(
            "Emits the order once the read model shows it at minVersion or later (at once if it "
            "already does), then completes. With timeoutMs, ends with CONSISTENCY_TIMEOUT if that "
            "does not happen in time, and at once with PROJECTION_FAILED when the order's stream is parked "
            "(a projection error) below minVersion."
        ),
    )
    async def order_projected(
        self, info: Info, order_id: strawberry.ID, min_version: int, timeout_ms: int | None = None
    ) -> AsyncGenerator[Order, None]:
        services = info.context.services
        log_context.annotate(order_id=str(order_id))
        check_min_version(min_version)
        timeout = timeout_seconds(timeout_ms)
        reader = visible_orders(info.context.principal, services.order_reader)
        handoff = HANDOFF.get()
        handed_over = False
        SUBSCRIPTIONS.__enter__()
        try:
            if wants(handoff):
                # A WebSocket handler may take the wait over (resolvers/projected_handoff.py).
                deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
                view = await projected_or_handed_off(
                    services.tracker, reader, str(order_id), min_version, deadline, timeout_ms, handoff
                )
                if view is None:
                    handed_over = True
                    return
            else:
                view = await wait_for_order_version(services.tracker, reader, str(order_id), min_version, timeout)
            if view is None or view.version < min_version:
                raise timeout_error(str(order_id), min_version, timeout_ms)
            with confirmation("orderProjected", ORDER_VIEWS, view.position):
                yield Order.from_view(view)
        finally:
            if handed_over and handoff is not None:
                handoff.finishers.append(SUBSCRIPTIONS.close_one)  # counted open until the handler ends it
            else:
                SUBSCRIPTIONS.close_one()

    @strawberry.subscription(
        extensions=[ValidInput(), Authorized(ANY_ROLE)],
        description=(
            "Emits the order's current view at once (when it has one), then its view each time the "
            "projection applies a new version of it, until the client stops. Versions only increase."
        ),
    )
    async def order_updated(self, info: Info, order_id: strawberry.ID) -> AsyncGenerator[Order, None]:
        services = info.context.services
        log_context.annotate(order_id=str(order_id))
        reader = visible_orders(info.context.principal, services.order_reader)
        handoff = HANDOFF.get()
        if wants(handoff):
            # A WebSocket handler may take this subscription over after its first result (resolvers/update_handoff.py).
            # The process's ProjectionTracker registers watches; Services types it by what waits need.
            tracker = cast(Watches, services.tracker)
            versions = order_updates_handed_off(tracker, reader, str(order_id), handoff)
        else:
            versions = order_updates(services.tracker, reader, str(order_id))
        SUBSCRIPTIONS.__enter__()
        try:
            async for view in versions:
                order = Order.from_view(view)
                del view  # not kept while the next version is awaited (see order_updates)
                yield order
                del order
        finally:
            await versions.aclose()
            if handoff is not None and handoff.accepted:
                handoff.finishers.append(SUBSCRIPTIONS.close_one)  # counted open until the handler ends it
            else:
                SUBSCRIPTIONS.close_one()

    @strawberry.subscription(
        extensions=[ValidInput(), Authorized(ANY_ROLE)],
        description=(
            "Emits once the named projection's checkpoint reaches position (at once if it already has), then completes."
        ),
    )
    async def projection_caught_up(
        self, info: Info, name: str, position: Position, timeout_ms: int | None = None
    ) -> AsyncGenerator[ProjectionStatus, None]:
        services = info.context.services
        check_projection(name, services.projection_names)
        log_context.annotate(projection=name)
        timeout = timeout_seconds(timeout_ms)
        with SUBSCRIPTIONS:
            reached = await services.tracker.wait_for_position(name, position, timeout)
            if not reached:
                raise ConsistencyTimeoutError(
                    f"projection {name} did not reach position {position} within {timeout_ms} ms"
                )
            status = await services.status(name)
            assert status is not None, "check_projection let an unknown projection through"
            with confirmation("projectionCaughtUp", name, position):
                yield ProjectionStatus.from_view(status)
