"""Who may do what: a role rule on every root field, and the customer scope of what a customer reaches.

- `Authorized(*roles)` sits on every root field (tests/api/test_authorization_policy.py walks
  the served schema and fails on a root field without it). A principal holding none of the
  roles gets FORBIDDEN before the resolver runs. Introspection is not a root field of ours,
  so it stays open to every authenticated caller.
- A customer reaches only its own customer's data. Naming another customer (customerOrders,
  customer, searchOrders' filter, createOrder's input) is FORBIDDEN: that is decided from the
  request and the token alone, so it reveals nothing. Naming another customer's order reads
  exactly as naming a missing one (null, NOT_FOUND, a subscription that never emits), so
  order ids cannot be probed: reads go through `visible_orders`, commands carry an `Issuer`
  whose order scope the decider applies (domain.decider.as_seen_by).
- Staff and admin reach every customer; OPEN (auth off) holds every role.

Argument checks (ValidInput, scalars) run during argument conversion, before this rule, so a
malformed argument is BAD_USER_INPUT whoever sends it; that answer depends on the request only.
"""

from __future__ import annotations

import inspect
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info

from domain.errors import InvalidInputError
from domain.issuers import Issuer
from domain.limits import MAX_ID_LENGTH, check_text
from projections.consistency import OrderReader
from projections.order_views.queries import OrderView
from schema.errors import BadUserInputError, ForbiddenError
from schema.principal import Principal, Role

ANY_ROLE = tuple(Role)
STAFF = (Role.STAFF, Role.ADMIN)
ADMIN = (Role.ADMIN,)


class Authorized(FieldExtension):
    """Runs the resolver only for a principal holding one of the roles; FORBIDDEN otherwise."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.roles = frozenset(roles)

    async def resolve_async(self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any) -> Any:
        """Check the role, then resolve (a subscription's generator is handed back as is)."""
        require_role(info.context.principal, self.roles)
        result = next_(source, info, **kwargs)
        return result if inspect.isasyncgen(result) else await result


def require_role(principal: Principal, roles: frozenset[Role]) -> None:
    """FORBIDDEN unless the principal holds one of the roles."""
    if principal.roles.isdisjoint(roles):
        wanted = ", ".join(sorted(role.value for role in roles))
        raise ForbiddenError(f"this operation needs one of the roles: {wanted}")


def customer_scope(principal: Principal) -> str | None:
    """The one customer the principal may reach, or None for every customer (staff, admin, auth off)."""
    if not principal.roles.isdisjoint(STAFF):
        return None
    if principal.customer_id is None:
        raise ForbiddenError("the token names no customer")
    try:
        # The claim is compared with and stored as a customer id: it must be one.
        check_text("customer", principal.customer_id, limit=MAX_ID_LENGTH)
    except InvalidInputError:
        raise ForbiddenError("the token's customer is not a valid customer id") from None
    return principal.customer_id


def named_customer(principal: Principal, given: str) -> str:
    """A customer id the request names; a customer naming another is FORBIDDEN."""
    scope = customer_scope(principal)
    if scope is not None and given != scope:
        raise ForbiddenError("a customer may only name itself")
    return given


def customer_filter(principal: Principal, given: str | None) -> str | None:
    """An optional customer id: left out, a customer's own (None, every customer, for staff)."""
    return customer_scope(principal) if given is None else named_customer(principal, given)


def new_order_customer(principal: Principal, given: str | None) -> str:
    """The customer of a new order: required, except that a customer may leave out its own id."""
    customer_id = customer_filter(principal, given)
    if customer_id is None:
        raise BadUserInputError("customerId is required")
    return customer_id


def issuer_of(principal: Principal) -> Issuer | None:
    """The issuer a command carries: the subject scopes its commandId, a customer's its orders; None when auth is off."""
    if not principal.authenticated:
        return None
    if principal.subject is None:
        raise ForbiddenError("the token names no subject")
    return Issuer(subject=principal.subject, customer_id=customer_scope(principal))


class _OwnOrders:
    """An order reader that shows one customer's orders and no one else's (they read as missing)."""

    def __init__(self, reader: OrderReader, customer_id: str) -> None:
        self._reader = reader
        self._customer_id = customer_id

    async def get(self, order_id: str) -> OrderView | None:
        """The view when it is the customer's, else None."""
        view = await self._reader.get(order_id)
        return view if view is not None and view.customer_id == self._customer_id else None


def visible_orders(principal: Principal, reader: OrderReader) -> OrderReader:
    """The reader itself for staff and admin; for a customer, one that hides other customers' orders."""
    scope = customer_scope(principal)
    return reader if scope is None else _OwnOrders(reader, scope)
