"""Bad input, refused commands and failures: each with the contract's code, nothing written."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.api.operations import ADD_ITEM, CANCEL, CREATE, SHIP, order_input
from tests.support.server import RunningServer

EVENTS = "query($id: ID!) { orderEvents(orderId: $id) { version } }"


async def create(api: RunningServer) -> dict:
    return (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "changes",
    [
        {"items": []},
        {"items": [{"productId": "p", "quantity": 0, "price": "1"}]},
        {"items": [{"productId": "p", "quantity": 1, "price": "-1"}]},
        {"items": [{"productId": "p", "quantity": 1, "price": "abc"}]},
        {"items": [{"productId": "p", "quantity": 1, "price": "0.00001"}]},
        {"orderId": "not-a-uuid"},
        {"customerId": ""},
        {"shippingAddress": {"line1": "", "city": "c", "postalCode": "1", "country": "US"}},
        {"shippingAddress": {"line1": "x" * 500, "city": "c", "postalCode": "1", "country": "US"}},
    ],
    ids=["no items", "quantity 0", "negative price", "price not a number", "too precise", "order id",
         "blank customer", "blank address line", "long address line"],
)
async def test_invalid_create_is_bad_user_input_and_writes_nothing(api: RunningServer, changes: dict) -> None:
    order_id = str(uuid.uuid4())
    code = await api.gql.error_code(CREATE, {"input": order_input(**{"orderId": order_id, **changes})})
    assert code == "BAD_USER_INPUT"
    assert (await api.gql.data(EVENTS, {"id": order_id}))["orderEvents"] == []


async def test_commands_on_an_unknown_order_are_not_found(api: RunningServer) -> None:
    missing = str(uuid.uuid4())
    assert await api.gql.error_code(SHIP, {"input": {"orderId": missing}}) == "NOT_FOUND"
    assert await api.gql.error_code(CANCEL, {"input": {"orderId": missing, "reason": "x"}}) == "NOT_FOUND"
    add = {"orderId": missing, "productId": "p", "quantity": 1, "price": "1"}
    assert await api.gql.error_code(ADD_ITEM, {"input": add}) == "NOT_FOUND"
    assert (await api.gql.data(EVENTS, {"id": missing}))["orderEvents"] == []


async def test_state_rules_are_invalid_state(api: RunningServer) -> None:
    order_id = (await create(api))["orderId"]
    await api.gql.data(CANCEL, {"input": {"orderId": order_id, "reason": "changed my mind"}})
    assert await api.gql.error_code(SHIP, {"input": {"orderId": order_id}}) == "INVALID_STATE"
    add = {"orderId": order_id, "productId": "p", "quantity": 1, "price": "1"}
    assert await api.gql.error_code(ADD_ITEM, {"input": add}) == "INVALID_STATE"
    assert len((await api.gql.data(EVENTS, {"id": order_id}))["orderEvents"]) == 2


async def test_a_stale_expected_version_is_a_conflict(api: RunningServer) -> None:
    order_id = (await create(api))["orderId"]
    add = {"orderId": order_id, "productId": "p", "quantity": 1, "price": "1", "expectedVersion": 1}
    await api.gql.data(ADD_ITEM, {"input": add})
    body = await api.gql.execute(ADD_ITEM, {"input": add})
    assert body["errors"][0]["extensions"]["code"] == "CONCURRENCY_CONFLICT"
    assert "version 2" in body["errors"][0]["message"]
    assert len((await api.gql.data(EVENTS, {"id": order_id}))["orderEvents"]) == 2


async def test_creating_an_existing_order_id_is_a_conflict(api: RunningServer) -> None:
    order_id = str(uuid.uuid4())
    await api.gql.data(CREATE, {"input": order_input(orderId=order_id)})
    assert await api.gql.error_code(CREATE, {"input": order_input(orderId=order_id)}) == "CONCURRENCY_CONFLICT"


@pytest.mark.parametrize(
    "query",
    [
        '{ customerOrders(customerId: "c", pageSize: 101) { total } }',
        '{ customerOrders(customerId: "c", pageSize: 0) { total } }',
        '{ searchOrders(page: 0) { total } }',
        '{ customerOrders(customerId: "c", minPosition: 1, waitMs: 20000) { total } }',
        '{ order(orderId: "x", minVersion: 1, waitMs: -1) { version } }',
        '{ customerOrders(customerId: "c", minPosition: -1) { total } }',
        '{ customerOrders(customerId: "c", minPosition: 1.5) { total } }',
        '{ searchOrders(sortBy: PRICE) { total } }',
        '{ nosuchfield }',
        '{ order(orderId: ',
    ],
)
async def test_bad_query_arguments_are_bad_user_input(api: RunningServer, query: str) -> None:
    assert await api.gql.error_code(query) == "BAD_USER_INPUT"


async def test_a_position_variable_out_of_range_is_bad_user_input(api: RunningServer) -> None:
    query = "query($p: Position) { customerOrders(customerId: \"c\", minPosition: $p) { total } }"
    assert await api.gql.error_code(query, {"p": 2**53}) == "BAD_USER_INPUT"
    assert await api.gql.error_code(query, {"p": "12"}) == "BAD_USER_INPUT"


async def test_malformed_json_is_a_400_with_json_errors(api: RunningServer) -> None:
    response = await api.http.post(api.url, content=b'{"query": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_browser_get_shows_graphiql(api: RunningServer) -> None:
    response = await api.http.get(api.url, headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_health_and_readiness(api: RunningServer) -> None:
    assert (await api.http.get(f"{api.base_url}/healthz")).json() == {"status": "ok"}
    ready = await api.http.get(f"{api.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "bus": True}


class ExplodingClock:
    def now(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals: password=hunter2")


async def test_unexpected_errors_are_masked_for_clients_and_logged(
    server_factory, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    async with server_factory(overrides={"clock": ExplodingClock()}) as api:
        with caplog.at_level(logging.ERROR):
            body = await api.gql.execute(CREATE, {"input": order_input()})
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "hunter2" not in str(body) and error["message"] == "Internal server error"
    logged = [record for record in caplog.records if record.exc_info]
    assert any("hunter2" in str(record.exc_info[1]) for record in logged)
