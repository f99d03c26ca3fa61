"""The GraphQL requests the bench sends, as JSON bodies (one operation text per figure,
variables varying per request)."""

from __future__ import annotations

import random
from typing import Any

import orjson

from bench import dataset
from bench.load import ID_PLACEHOLDER, Workload

ORDER_FIELDS = (
    "orderId customerId status items { productId quantity price lineTotal } itemCount totalAmount "
    "shippingAddress { line1 line2 city postalCode country } createdAt version"
)
ORDER_BY_ID = "query Order($id: ID!) { order(orderId: $id) { FIELDS } }".replace("FIELDS", ORDER_FIELDS)
CUSTOMER_ORDERS = (
    "query CustomerOrders($customerId: ID!) { customerOrders(customerId: $customerId, pageSize: 20) "
    "{ total position items { FIELDS } } }".replace("FIELDS", ORDER_FIELDS)
)
SEARCH_ORDERS = (
    "query Search($term: String!, $status: OrderStatus!) { searchOrders(query: $term, "
    "filter: {status: $status}, pageSize: 20) { total position items { FIELDS } } }".replace("FIELDS", ORDER_FIELDS)
)
CREATE_ORDER = (
    "mutation Create($input: CreateOrderInput!) { createOrder(input: $input) { orderId version position commandId } }"
)
ORDER_PROJECTED = (
    "subscription Projected($id: ID!) { orderProjected(orderId: $id, minVersion: 1, timeoutMs: 10000) "
    "{ orderId version } }"
)
ORDER_UPDATED = "subscription Updated($id: ID!) { orderUpdated(orderId: $id) { orderId version itemCount } }"


def body(query: str, variables: dict[str, Any]) -> str:
    """A POST body."""
    return orjson.dumps({"query": query, "variables": variables}).decode()


def by_id(name: str, query: str, orders: int, variable: str = "id") -> Workload:
    """Reads of a random loaded order per request (any of the `orders`)."""
    return Workload(
        name, template=body(query, {variable: ID_PLACEHOLDER}), id_prefix=dataset.ORDER_ID_PREFIX, id_count=orders
    )


def customers(name: str, query: str, orders: int) -> Workload:
    """One body per customer of the loaded set."""
    count = dataset.customer_count(orders)
    return Workload(name, bodies=tuple(body(query, {"customerId": dataset.customer_id(i)}) for i in range(count)))


def searches(name: str, query: str) -> Workload:
    """One term (a city or a product id) and a status filter."""
    terms = [*dataset.CITIES, *(dataset.product_id(i) for i in range(dataset.PRODUCTS))]
    return Workload(
        name,
        bodies=tuple(body(query, {"term": term, "status": status}) for term in terms for status in dataset.STATUSES),
    )


def create_input(rng: random.Random, customers: int, order_id: str | None = None) -> dict[str, Any]:
    """A createOrder input: a random customer, one to three lines, an address."""
    address = dataset.address(rng)
    value: dict[str, Any] = {
        "customerId": dataset.customer_id(rng.randrange(customers)),
        "items": [
            {"productId": item.product_id, "quantity": item.quantity, "price": str(item.price)}
            for item in (dataset.line_item(rng) for _ in range(rng.randint(1, 3)))
        ],
        "shippingAddress": {
            "line1": address.line1, "city": address.city, "postalCode": address.postal_code,
            "country": address.country,
        },
    }
    if order_id is not None:
        value["orderId"] = order_id
    return value


def creates(name: str, customers: int, count: int = 500) -> Workload:
    """createOrder bodies without ids: each request is a new command and a new order."""
    rng = random.Random(11)
    return Workload(name, bodies=tuple(body(CREATE_ORDER, {"input": create_input(rng, customers)}) for _ in range(count)))
