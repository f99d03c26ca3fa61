"""Output types: thin views of read-model rows and event-store records."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from domain.ports import AppendResult, RecordedEvent
from domain.values import Address
from projections.customer_summaries.queries import CustomerSummaryView
from projections.filled import copies_fields, filled
from projections.order_views.queries import OrderItemView, OrderPageView, OrderView
from projections.status import ProjectionStatusView, RebuildProgress
from schema.enums import OrderStatus, ProjectionState
from schema.principal import Role
from schema.scalars import Position

if TYPE_CHECKING:
    from schema.context import Context


@strawberry.type(description="What an accepted command wrote: enough to wait for the read model to show it.")
class CommandResult:
    order_id: strawberry.ID
    version: int = strawberry.field(description="The order stream's version after the command (1 after createOrder).")
    position: Position = strawberry.field(description="Global position of the last event the command wrote.")
    command_id: strawberry.ID

    @classmethod
    def from_result(cls, result: AppendResult, command_id: str) -> CommandResult:
        """What a mutation returns."""
        return cls(
            order_id=strawberry.ID(result.stream_id),
            version=result.version,
            position=Position(result.position),
            command_id=strawberry.ID(command_id),
        )


@strawberry.type
class OrderItem:
    product_id: str
    quantity: int
    price: Decimal
    line_total: Decimal = strawberry.field(description="quantity * price")


# The domain's value object is the output type: one address shape from the decider to the client.
strawberry.type(Address)


@strawberry.type(description="The customer_summaries read model, fed by the same order events.")
class CustomerSummary:
    customer_id: strawberry.ID
    order_count: int
    open_order_count: int
    shipped_order_count: int
    cancelled_order_count: int
    lifetime_value: Decimal = strawberry.field(description="Sum of totalAmount over orders that are not cancelled.")
    last_order_at: datetime.datetime | None

    @classmethod
    def from_view(cls, view: CustomerSummaryView) -> CustomerSummary:
        """A summary row as the API shows it."""
        return cls(
            customer_id=strawberry.ID(view.customer_id),
            order_count=view.order_count,
            open_order_count=view.open_order_count,
            shipped_order_count=view.shipped_order_count,
            cancelled_order_count=view.cancelled_order_count,
            lifetime_value=view.lifetime_value,
            last_order_at=view.last_order_at,
        )


@strawberry.type(description="An order as the order_views read model shows it.")
class Order:
    order_id: strawberry.ID
    customer_id: strawberry.ID
    status: OrderStatus
    items: list[OrderItem]
    item_count: int = strawberry.field(description="Sum of the items' quantities.")
    total_amount: Decimal = strawberry.field(description="Sum of the items' line totals.")
    shipping_address: Address
    created_at: datetime.datetime
    shipped_at: datetime.datetime | None
    cancelled_at: datetime.datetime | None
    cancel_reason: str | None
    version: int = strawberry.field(description="The order stream version this view reflects.")
    position: Position = strawberry.field(description="Global position of the last event this view reflects.")

    @strawberry.field(description="The customer's summary (batched across orders by a DataLoader).")
    async def customer(
        self, info: strawberry.Info[Annotated[Context, strawberry.lazy("schema.context")], None]
    ) -> CustomerSummary | None:
        view = await info.context.loaders.customer_summary.load(str(self.customer_id))
        return None if view is None else CustomerSummary.from_view(view)

    @classmethod
    def from_view(cls, view: OrderView) -> Order:
        """An order_views row as the API shows it."""
        if _ORDERS_COPY_VIEWS:
            # The same instance __init__ builds (strawberry.ID and Position are NewTypes: identity at run time).
            fields = dict(view.__dict__)
            fields["items"] = [filled(OrderItem, dict(item.__dict__)) for item in view.items]
            return filled(cls, fields)
        return cls(
            order_id=strawberry.ID(view.order_id),
            customer_id=strawberry.ID(view.customer_id),
            status=view.status,
            items=[
                OrderItem(
                    product_id=item.product_id,
                    quantity=item.quantity,
                    price=item.price,
                    line_total=item.line_total,
                )
                for item in view.items
            ],
            item_count=view.item_count,
            total_amount=view.total_amount,
            shipping_address=view.shipping_address,
            created_at=view.created_at,
            shipped_at=view.shipped_at,
            cancelled_at=view.cancelled_at,
            cancel_reason=view.cancel_reason,
            version=view.version,
            position=Position(view.position),
        )


# Order and OrderItem are plain copies of the views (same fields, no __post_init__): from_view
# fills them without __init__. Checked once here; a change of shape takes the constructor.
_ORDERS_COPY_VIEWS = copies_fields(Order, OrderView) and copies_fields(OrderItem, OrderItemView)


@strawberry.type
class OrderPage:
    items: list[Order]
    total: int
    page: int
    page_size: int
    total_pages: int
    position: Position = strawberry.field(description="The read model's checkpoint when the page was read.")

    @classmethod
    def from_view(cls, view: OrderPageView) -> OrderPage:
        """A page of order_views rows."""
        return cls(
            items=[Order.from_view(item) for item in view.items],
            total=view.total,
            page=view.page,
            page_size=view.page_size,
            total_pages=view.total_pages,
            position=Position(view.position),
        )


@strawberry.type(description="One event as the event store holds it (the write side).")
class Event:
    event_id: strawberry.ID
    type: str
    schema_version: int = strawberry.field(description="The event's schema version, for upcasting.")
    version: int = strawberry.field(description="Version of its stream after this event.")
    position: Position
    occurred_at: datetime.datetime
    data: JSON

    @classmethod
    def from_record(cls, record: RecordedEvent) -> Event:
        """A stored event as the API shows it (data as stored, before upcasting)."""
        return cls(
            event_id=strawberry.ID(record.event_id),
            type=record.type_name,
            schema_version=record.schema_version,
            version=record.version,
            position=Position(record.position),
            occurred_at=record.occurred_at,
            data=JSON(dict(record.data)),
        )


@strawberry.type(description="A blue-green rebuild under way: the next generation filling beside the live one.")
class ProjectionRebuild:
    generation: int = strawberry.field(description="The generation being built (the live one is generation - 1).")
    version: int = strawberry.field(description="The projector version it is built with.")
    position: Position = strawberry.field(description="Last global position the new generation has applied.")
    head_position: Position = strawberry.field(description="Last global position in the event store.")
    events_per_second: float | None = strawberry.field(description="Events applied per second since this run started.")
    eta_seconds: float | None = strawberry.field(description="Seconds until it reaches the head at that rate.")
    started_at: datetime.datetime | None = strawberry.field(description="When this run of the rebuild started.")

    @classmethod
    def from_progress(cls, progress: RebuildProgress) -> ProjectionRebuild:
        """A rebuild's progress as the contract shows it."""
        return cls(
            generation=progress.generation,
            version=progress.version,
            position=Position(progress.position),
            head_position=Position(progress.head_position),
            events_per_second=progress.events_per_second,
            eta_seconds=progress.eta_seconds,
            started_at=progress.started_at,
        )


@strawberry.type
class ProjectionStatus:
    name: str = strawberry.field(description='The read model\'s name: "order_views" or "customer_summaries" (more may be added).')
    position: Position = strawberry.field(description="Last global position applied.")
    head_position: Position = strawberry.field(description="Last global position in the event store.")
    lag: int = strawberry.field(description="headPosition - position")
    state: ProjectionState
    parked_streams: int | None = strawberry.field(
        description="How many streams the projection holds parked after an error (it runs on for the rest)."
    )
    rebuild: ProjectionRebuild | None = strawberry.field(
        description="The blue-green rebuild under way (`orderly rebuild`, or a version change), if any."
    )
    error: strawberry.Private[str | None]

    @strawberry.field(description="The projection's last error, for admins only (it may quote internals); null for others.")
    def last_error(self, info: strawberry.Info[Annotated[Context, strawberry.lazy("schema.context")], None]) -> str | None:
        return self.error if Role.ADMIN in info.context.principal.roles else None

    @classmethod
    def from_view(cls, view: ProjectionStatusView) -> ProjectionStatus:
        """A projection's status row."""
        return cls(
            name=view.name,
            position=Position(view.position),
            head_position=Position(view.head_position),
            lag=view.lag,
            state=view.state,
            parked_streams=view.parked_streams,
            rebuild=None if view.rebuild is None else ProjectionRebuild.from_progress(view.rebuild),
            error=view.last_error,
        )
