"""The Mutation root: each field turns its input into a command, with its issuer, and dispatches it."""

from __future__ import annotations

import strawberry

from domain.commands import AddOrderItem, CancelOrder, Command, CreateOrder, ShipOrder
from domain.issuers import command_key
from domain.values import LineItem
from eventstore import log_context
from resolvers.arguments import check_expected_version, command_id, new_order_id
from resolvers.authorization import ADMIN, ANY_ROLE, STAFF, Authorized, issuer_of, new_order_customer
from resolvers.input_values import ValidInput
from resolvers.parking import retry_parked_stream, skip_parked_event
from schema.context import Context, Services
from schema.inputs import AddOrderItemInput, CancelOrderInput, CreateOrderInput, ShipOrderInput
from schema.types import CommandResult

Info = strawberry.Info[Context, None]


async def dispatch(services: Services, command: Command) -> CommandResult:
    """Run the command; its ids join the operation's log scope first (an error logged carries them)."""
    log_context.annotate(command_id=command.command_id, order_id=command.order_id)
    result = await services.commands.dispatch(command)
    return CommandResult.from_result(result, command.command_id)


# Each input becomes its command here, on strawberry's road (the Mutation root below) and on the
# compiled one (resolvers/compiled_mutations.py), after ValidInput and the role check ran.


def create_order_command(context: Context, input: CreateOrderInput) -> CreateOrder:
    """A CreateOrder for the principal: its customer (FORBIDDEN to name another), its issuer, its order id."""
    services = context.services
    principal = context.principal
    customer_id = new_order_customer(principal, None if input.customer_id is None else str(input.customer_id))
    issuer = issuer_of(principal)
    key = command_id(input.command_id, services.new_id())
    return CreateOrder(
        command_id=key,
        issued_at=services.clock.now(),
        # Derived from the scoped key: two subjects' equal commandIds name two orders.
        order_id=new_order_id(input.order_id, command_key(key, issuer)),
        customer_id=customer_id,
        items=tuple(LineItem(product_id=item.product_id, quantity=item.quantity, price=item.price) for item in input.items),
        shipping_address=input.shipping_address.to_address(),
        issuer=issuer,
    )


def add_order_item_command(context: Context, input: AddOrderItemInput) -> AddOrderItem:
    """An AddOrderItem (expectedVersion, when given, zero or more)."""
    services = context.services
    check_expected_version(input.expected_version)
    return AddOrderItem(
        command_id=command_id(input.command_id, services.new_id()),
        issued_at=services.clock.now(),
        order_id=str(input.order_id),
        item=LineItem(product_id=input.product_id, quantity=input.quantity, price=input.price),
        expected_version=input.expected_version,
        issuer=issuer_of(context.principal),
    )


def ship_order_command(context: Context, input: ShipOrderInput) -> ShipOrder:
    """A ShipOrder (expectedVersion, when given, zero or more)."""
    services = context.services
    check_expected_version(input.expected_version)
    return ShipOrder(
        command_id=command_id(input.command_id, services.new_id()),
        issued_at=services.clock.now(),
        order_id=str(input.order_id),
        expected_version=input.expected_version,
        issuer=issuer_of(context.principal),
    )


def cancel_order_command(context: Context, input: CancelOrderInput) -> CancelOrder:
    """A CancelOrder with its reason (expectedVersion, when given, zero or more)."""
    services = context.services
    check_expected_version(input.expected_version)
    return CancelOrder(
        command_id=command_id(input.command_id, services.new_id()),
        issued_at=services.clock.now(),
        order_id=str(input.order_id),
        reason=input.reason,
        expected_version=input.expected_version,
        issuer=issuer_of(context.principal),
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=[ValidInput(), Authorized(ANY_ROLE)])
    async def create_order(self, info: Info, input: CreateOrderInput) -> CommandResult:
        return await dispatch(info.context.services, create_order_command(info.context, input))

    @strawberry.mutation(extensions=[ValidInput(), Authorized(ANY_ROLE)])
    async def add_order_item(self, info: Info, input: AddOrderItemInput) -> CommandResult:
        return await dispatch(info.context.services, add_order_item_command(info.context, input))

    @strawberry.mutation(extensions=[ValidInput(), Authorized(STAFF)])
    async def ship_order(self, info: Info, input: ShipOrderInput) -> CommandResult:
        return await dispatch(info.context.services, ship_order_command(info.context, input))

    @strawberry.mutation(extensions=[ValidInput(), Authorized(ANY_ROLE)])
    async def cancel_order(self, info: Info, input: CancelOrderInput) -> CommandResult:
        return await dispatch(info.context.services, cancel_order_command(info.context, input))

    retry_parked_stream = strawberry.mutation(
        resolver=retry_parked_stream,
        extensions=[ValidInput(), Authorized(ADMIN)],
        description=(
            "Asks the projector to replay a parked stream from its parked event, in order, once the cause is "
            "fixed (in every projection that parked it, or the one named); returns the requests recorded. "
            "If it fails again it stays parked with the new error (admin only)."
        ),
    )
    skip_parked_event = strawberry.mutation(
        resolver=skip_parked_event,
        extensions=[ValidInput(), Authorized(ADMIN)],
        description=(
            "Asks the projector to pass a parked stream's parked event without applying it, then replay the "
            "rest; returns the requests recorded (admin only)."
        ),
    )
