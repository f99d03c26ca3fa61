"""The Query root: reads go to read-model queries only (orderEvents reads the store)."""

from __future__ import annotations

import strawberry

from projections.consistency import wait_for_order_version
from projections.order_views.queries import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from projections.order_views.queries import NAME as ORDER_VIEWS
from resolvers.arguments import check_min_version, check_page, check_search, wait_seconds
from resolvers.authorization import ADMIN, ANY_ROLE, Authorized, customer_filter, named_customer, visible_orders
from resolvers.input_values import ValidInput
from resolvers.order_rows import order_page
from resolvers.parking import parked_streams
from schema.context import Context, Services
from schema.enums import OrderSortField, OrderStatus, SortOrder
from schema.inputs import OrderFilter
from schema.scalars import Position
from schema.types import CustomerSummary, Event, Order, OrderPage, ProjectionStatus

Info = strawberry.Info[Context, None]


async def _wait_for_position(services: Services, min_position: int | None, wait_ms: int | None) -> None:
    timeout = wait_seconds(wait_ms)
    if min_position is not None:
        await services.tracker.wait_for_position(ORDER_VIEWS, min_position, timeout)


@strawberry.type
class Query:
    @strawberry.field(
        extensions=[ValidInput(), Authorized(ANY_ROLE)],
        description=(
            "The order, or null. With minVersion, waits up to waitMs (default 2000, at most 10000) "
            "for the view to reach that version, then returns what it has: compare `version`. Fails at once "
            "with PROJECTION_FAILED when the order's stream is parked (a projection error) below that version."
        ),
    )
    async def order(
        self, info: Info, order_id: strawberry.ID, min_version: int | None = None, wait_ms: int | None = None
    ) -> Order | None:
        services = info.context.services
        timeout = wait_seconds(wait_ms)
        if min_version is not None:
            check_min_version(min_version)
            reader = visible_orders(info.context.principal, services.order_reader)
            view = await wait_for_order_version(services.tracker, reader, str(order_id), min_version, timeout)
        else:
            view = await visible_orders(info.context.principal, services.orders).get(str(order_id))
        return None if view is None else Order.from_view(view)

    @strawberry.field(
        extensions=[ValidInput(), Authorized(ANY_ROLE)],
        description=(
            f"A customer's orders, newest first (ties by orderId). pageSize 1 to {MAX_PAGE_SIZE}; totalPages is 0 "
            "when there are none. With minPosition, waits up to waitMs (default 2000, at most 10000) "
            "for the read model to reach it, then answers with what it has: compare `position`."
        ),
    )
    async def customer_orders(
        self,
        info: Info,
        customer_id: strawberry.ID,
        status: OrderStatus | None = None,
        page: int | None = 1,
        page_size: int | None = DEFAULT_PAGE_SIZE,
        min_position: Position | None = None,
        wait_ms: int | None = None,
    ) -> OrderPage:
        services = info.context.services
        customer = named_customer(info.context.principal, str(customer_id))
        page, page_size = check_page(page, page_size)
        await _wait_for_position(services, min_position, wait_ms)
        view = await services.orders.customer_orders(customer, status=status, page=page, page_size=page_size)
        return order_page(view)

    @strawberry.field(
        extensions=[ValidInput(), Authorized(ANY_ROLE)],
        description=(
            "Orders where every whitespace-separated term of `query` occurs, case-insensitively, in "
            "the order id, the customer id, a product id or the shipping address; filtered and "
            "sorted. Ties sort by orderId."
        ),
    )
    async def search_orders(
        self,
        info: Info,
        query: str | None = None,
        filter: OrderFilter | None = None,
        sort_by: OrderSortField | None = OrderSortField.CREATED_AT,
        sort_order: SortOrder | None = SortOrder.DESC,
        page: int | None = 1,
        page_size: int | None = DEFAULT_PAGE_SIZE,
        min_position: Position | None = None,
        wait_ms: int | None = None,
    ) -> OrderPage:
        services = info.context.services
        criteria = filter or OrderFilter()
        given = None if criteria.customer_id is None else str(criteria.customer_id)
        customer = customer_filter(info.context.principal, given)
        page, page_size = check_page(page, page_size)
        check_search(query)
        await _wait_for_position(services, min_position, wait_ms)
        view = await services.orders.search(
            terms=query,
            status=criteria.status,
            customer_id=customer,
            min_total=criteria.min_total,
            max_total=criteria.max_total,
            created_after=criteria.created_after,
            created_before=criteria.created_before,
            sort_by=sort_by or OrderSortField.CREATED_AT,
            sort_order=sort_order or SortOrder.DESC,
            page=page,
            page_size=page_size,
        )
        return order_page(view)

    @strawberry.field(extensions=[ValidInput(), Authorized(ANY_ROLE)])
    async def customer(self, info: Info, customer_id: strawberry.ID) -> CustomerSummary | None:
        customer = named_customer(info.context.principal, str(customer_id))
        view = await info.context.loaders.customer_summary.load(customer)
        return None if view is None else CustomerSummary.from_view(view)

    @strawberry.field(
        extensions=[ValidInput(), Authorized(ADMIN)],
        description="The order's events from the event store, oldest first; empty for an unknown order (admin only).",
    )
    async def order_events(self, info: Info, order_id: strawberry.ID) -> list[Event]:
        # As stored: an event this code cannot decode is listed too (an admin looking into a parked stream).
        records = await info.context.services.store.replay_stream(str(order_id))
        return [Event.from_record(record) for record in records]

    parked_streams = strawberry.field(
        resolver=parked_streams,
        extensions=[ValidInput(), Authorized(ADMIN)],
        description="Streams the projections hold parked after an error, oldest first (admin only).",
    )

    @strawberry.field(extensions=[ValidInput(), Authorized(ANY_ROLE)])
    async def projections(self, info: Info) -> list[ProjectionStatus]:
        services = info.context.services
        return [ProjectionStatus.from_view(view) for view in await services.statuses()]
