"""The whole loop over HTTP: commands write events, queries read the projected views."""

from __future__ import annotations

import asyncio
import uuid

from tests.api.operations import ADD_ITEM, CANCEL, CREATE, ORDER, SHIP, order_input
from tests.support.server import RunningServer


async def create(api: RunningServer, **changes: object) -> dict:
    return (await api.gql.data(CREATE, {"input": order_input(**changes)}))["createOrder"]  # type: ignore[arg-type]


async def test_create_then_read_your_write(api: RunningServer) -> None:
    result = await create(api, items=[
        {"productId": "beans", "quantity": 2, "price": "12.50"},
        {"productId": "filter", "quantity": 3, "price": "0.99"},
    ])
    assert result["version"] == 1 and result["position"] >= 1
    uuid.UUID(result["orderId"])
    order = (await api.gql.data(ORDER, {"id": result["orderId"], "minVersion": 1}))["order"]
    assert order["version"] == 1
    assert order["status"] == "CREATED"
    assert order["totalAmount"] == "27.97"
    assert order["itemCount"] == 5
    assert [item["lineTotal"] for item in order["items"]] == ["25.00", "2.97"]
    assert order["shippingAddress"]["city"] == "Springfield"
    assert order["createdAt"].endswith("+00:00")


async def test_an_order_moves_through_its_life(api: RunningServer) -> None:
    created = await create(api)
    order_id = created["orderId"]
    added = (await api.gql.data(ADD_ITEM, {"input": {
        "orderId": order_id, "productId": "grinder", "quantity": 1, "price": "89.00", "expectedVersion": 1,
    }}))["addOrderItem"]
    assert added["version"] == 2 and added["position"] > created["position"]
    shipped = (await api.gql.data(SHIP, {"input": {"orderId": order_id}}))["shipOrder"]
    assert shipped["version"] == 3
    order = (await api.gql.data(ORDER, {"id": order_id, "minVersion": 3}))["order"]
    assert (order["status"], order["totalAmount"], order["shippedAt"] is not None) == ("SHIPPED", "114.00", True)
    events = (await api.gql.data(
        "query($id: ID!) { orderEvents(orderId: $id) { type version position schemaVersion data occurredAt eventId } }",
        {"id": order_id},
    ))["orderEvents"]
    assert [event["type"] for event in events] == ["order.created", "order.item_added", "order.shipped"]
    assert [event["version"] for event in events] == [1, 2, 3]
    assert events[1]["data"]["item"]["price"] == "89.00"


async def test_a_client_chosen_order_id_is_kept(api: RunningServer) -> None:
    order_id = str(uuid.uuid4())
    result = await create(api, orderId=order_id.upper())
    assert result["orderId"] == order_id


async def test_a_repeated_command_id_returns_the_first_result_and_writes_nothing(api: RunningServer) -> None:
    command_id = f"cmd-{uuid.uuid4()}"
    first = await create(api, commandId=command_id, customerId="alice-idem")
    again = await create(api, commandId=command_id, customerId="alice-idem")
    assert again == first
    events = (await api.gql.data("query($id: ID!) { orderEvents(orderId: $id) { version } }", {"id": first["orderId"]}))
    assert len(events["orderEvents"]) == 1
    code = await api.gql.error_code(CREATE, {"input": order_input(commandId=command_id, customerId="someone-else")})
    assert code == "BAD_USER_INPUT"


async def test_customer_orders_pages_newest_first(api: RunningServer) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    results = [await create(api, customerId=customer) for _ in range(5)]
    last_position = results[-1]["position"]
    query = """
    query($c: ID!, $p: Int!, $min: Position) {
      customerOrders(customerId: $c, page: $p, pageSize: 2, minPosition: $min) {
        total page pageSize totalPages position items { orderId createdAt }
      }
    }"""
    first = (await api.gql.data(query, {"c": customer, "p": 1, "min": last_position}))["customerOrders"]
    assert (first["total"], first["totalPages"], first["pageSize"]) == (5, 3, 2)
    assert first["position"] >= last_position
    pages = [first] + [(await api.gql.data(query, {"c": customer, "p": p}))["customerOrders"] for p in (2, 3)]
    ids = [item["orderId"] for page in pages for item in page["items"]]
    assert sorted(ids) == sorted(result["orderId"] for result in results)
    keys = [(item["createdAt"], item["orderId"]) for page in pages for item in page["items"]]
    assert keys == sorted(keys, reverse=True)
    none = (await api.gql.data(query, {"c": "nobody-" + customer, "p": 1}))["customerOrders"]
    assert (none["total"], none["totalPages"], none["items"]) == (0, 0, [])


async def test_search_orders_by_terms_filter_and_sort(api: RunningServer) -> None:
    tag = uuid.uuid4().hex[:8]
    customer = f"searcher-{tag}"
    cheap = await create(api, customerId=customer, items=[{"productId": f"mug-{tag}", "quantity": 1, "price": "5"}])
    dear = await create(api, customerId=customer, items=[{"productId": f"mug-{tag}", "quantity": 2, "price": "50"}])
    await create(api, customerId=customer, items=[{"productId": "plate", "quantity": 1, "price": "7"}])
    query = """
    query($q: String, $f: OrderFilter, $min: Position) {
      searchOrders(query: $q, filter: $f, sortBy: TOTAL_AMOUNT, sortOrder: ASC, minPosition: $min) {
        total items { orderId totalAmount }
      }
    }"""
    found = (await api.gql.data(query, {"q": f"MUG-{tag} springfield", "min": dear["position"]}))["searchOrders"]
    assert [item["orderId"] for item in found["items"]] == [cheap["orderId"], dear["orderId"]]
    filtered = (await api.gql.data(query, {"q": f"mug-{tag}", "f": {"minTotal": "10", "customerId": customer}}))
    assert [item["orderId"] for item in filtered["searchOrders"]["items"]] == [dear["orderId"]]


async def test_customer_summary_follows_the_orders(api: RunningServer) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    first = await create(api, customerId=customer)
    second = await create(api, customerId=customer)
    await api.gql.data(CANCEL, {"input": {"orderId": second["orderId"], "reason": "duplicate"}})
    summary_query = """
    query($c: ID!) { customer(customerId: $c) {
      orderCount openOrderCount shippedOrderCount cancelledOrderCount lifetimeValue lastOrderAt } }"""
    summary = None
    for _ in range(100):
        summary = (await api.gql.data(summary_query, {"c": customer}))["customer"]
        if summary and summary["cancelledOrderCount"] == 1:
            break
        await asyncio.sleep(0.05)
    assert summary is not None
    assert {key: value for key, value in summary.items() if key != "lastOrderAt"} == {
        "orderCount": 2, "openOrderCount": 1, "shippedOrderCount": 0, "cancelledOrderCount": 1,
        "lifetimeValue": "25.00",
    }
    assert summary["lastOrderAt"] is not None
    nested = await api.gql.data(
        "query($id: ID!) { order(orderId: $id, minVersion: 1) { customer { orderCount } } }", {"id": first["orderId"]}
    )
    assert nested["order"]["customer"]["orderCount"] == 2


async def test_projections_report_position_head_and_lag(api: RunningServer) -> None:
    created = await create(api)
    await api.gql.data(ORDER, {"id": created["orderId"], "minVersion": 1})
    statuses = (await api.gql.data("{ projections { name position headPosition lag state lastError } }"))["projections"]
    by_name = {status["name"]: status for status in statuses}
    assert set(by_name) >= {"order_views", "customer_summaries"}
    views = by_name["order_views"]
    assert views["headPosition"] >= created["position"]
    assert views["lag"] == views["headPosition"] - views["position"]
    assert views["state"] in {"RUNNING", "CATCHING_UP"}
    assert views["lastError"] is None
