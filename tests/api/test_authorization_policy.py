"""The role rule sits on every root field, and a token with no role of ours reaches nothing but introspection."""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter

from resolvers.authorization import ADMIN, ANY_ROLE, STAFF, Authorized
from resolvers.graphql_schema import build_schema
from schema.principal import Principal, Role
from tests.api.authorization_support import execute, subscribe_first
from tests.support.server import RunningServer

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # shared_api's loop

NO_ROLE = Principal(subject="nobody", roles=frozenset(), customer_id="nobody")
ADDRESS = '{line1: "1 Main St", city: "X", postalCode: "1", country: "US"}'
ITEMS = '[{productId: "p", quantity: 1, price: "1.00"}]'
# One valid document per root field the contract names.
QUERIES = [
    '{ order(orderId: "o-1") { orderId } }',
    '{ customerOrders(customerId: "nobody") { total } }',
    "{ searchOrders { total } }",
    '{ customer(customerId: "nobody") { orderCount } }',
    '{ orderEvents(orderId: "o-1") { type } }',
    "{ projections { name } }",
    f"mutation {{ createOrder(input: {{customerId: \"nobody\", items: {ITEMS}, shippingAddress: {ADDRESS}}}) {{ orderId }} }}",
    'mutation { addOrderItem(input: {orderId: "o-1", productId: "p", quantity: 1, price: "1"}) { orderId } }',
    'mutation { shipOrder(input: {orderId: "o-1"}) { orderId } }',
    'mutation { cancelOrder(input: {orderId: "o-1", reason: "r"}) { orderId } }',
]
SUBSCRIPTIONS = [
    'subscription { orderProjected(orderId: "o-1", minVersion: 1, timeoutMs: 10) { orderId } }',
    'subscription { orderUpdated(orderId: "o-1") { orderId } }',
    'subscription { projectionCaughtUp(name: "order_views", position: 0) { name } }',
]


def root_fields() -> dict[str, frozenset[Role] | None]:
    """Every root field the served schema has, with the roles its Authorized rule lets in (None: no rule)."""
    schema = build_schema()._schema
    found: dict[str, frozenset[Role] | None] = {}
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        assert isinstance(root, GraphQLObjectType)
        for name, field in root.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            rules = [extension for extension in getattr(definition, "extensions", []) if isinstance(extension, Authorized)]
            found[f"{root.name}.{name}"] = rules[0].roles if len(rules) == 1 else None
    return found


def test_every_root_field_has_exactly_one_role_rule() -> None:
    fields = root_fields()
    # The walk sees the whole contract (so it cannot pass by seeing nothing) ...
    contract = {"Query.order", "Query.orderEvents", "Mutation.createOrder", "Mutation.shipOrder", "Subscription.orderUpdated"}
    assert contract <= set(fields)
    # ... and every root field, ours or added later, carries a rule.
    assert [name for name, roles in fields.items() if roles is None] == []


def test_the_rules_of_the_contracts_root_fields() -> None:
    fields = root_fields()
    assert fields["Query.orderEvents"] == frozenset(ADMIN)
    assert fields["Mutation.shipOrder"] == frozenset(STAFF)
    for name in ("Query.order", "Query.customerOrders", "Query.searchOrders", "Query.customer", "Query.projections",
                 "Mutation.createOrder", "Mutation.addOrderItem", "Mutation.cancelOrder",
                 "Subscription.orderProjected", "Subscription.orderUpdated", "Subscription.projectionCaughtUp"):
        assert fields[name] == frozenset(ANY_ROLE), name


@in_module_loop
@pytest.mark.parametrize("document", QUERIES)
async def test_a_token_without_a_role_is_forbidden(shared_api: RunningServer, document: str) -> None:
    result = await execute(shared_api, NO_ROLE, document)
    assert [error.extensions["code"] for error in result.errors or []] == ["FORBIDDEN"], result
    assert not any((result.data or {}).values())


@in_module_loop
@pytest.mark.parametrize("document", SUBSCRIPTIONS)
async def test_a_token_without_a_role_cannot_subscribe(shared_api: RunningServer, document: str) -> None:
    result = await subscribe_first(shared_api, NO_ROLE, document)
    assert [error.extensions["code"] for error in result.errors or []] == ["FORBIDDEN"], result


@in_module_loop
async def test_a_token_without_a_role_may_introspect(shared_api: RunningServer) -> None:
    result = await execute(shared_api, NO_ROLE, "{ __typename __schema { queryType { name } } }")
    assert result.errors is None
    assert result.data == {"__typename": "Query", "__schema": {"queryType": {"name": "Query"}}}
