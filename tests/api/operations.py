"""GraphQL documents and input builders shared by the API tests."""

from __future__ import annotations

import uuid
from typing import Any

ORDER_FIELDS = """
  orderId customerId status itemCount totalAmount version position createdAt shippedAt cancelledAt cancelReason
  items { productId quantity price lineTotal }
  shippingAddress { line1 line2 city postalCode country }
"""

CREATE = """
mutation Create($input: CreateOrderInput!) {
  createOrder(input: $input) { orderId version position commandId }
}
"""

ADD_ITEM = """
mutation Add($input: AddOrderItemInput!) { addOrderItem(input: $input) { orderId version position commandId } }
"""

SHIP = """
mutation Ship($input: ShipOrderInput!) { shipOrder(input: $input) { orderId version position commandId } }
"""

CANCEL = """
mutation Cancel($input: CancelOrderInput!) { cancelOrder(input: $input) { orderId version position commandId } }
"""

ORDER = f"""
query Order($id: ID!, $minVersion: Int, $waitMs: Int) {{
  order(orderId: $id, minVersion: $minVersion, waitMs: $waitMs) {{ {ORDER_FIELDS} }}
}}
"""


def order_input(customer_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid CreateOrderInput with a fresh customer."""
    value: dict[str, Any] = {
        "customerId": customer_id or f"cust-{uuid.uuid4().hex[:8]}",
        "items": [{"productId": "espresso-beans", "quantity": 2, "price": "12.50"}],
        "shippingAddress": {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
    }
    value.update(changes)
    return value
