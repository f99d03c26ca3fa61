"""Every client mistake in an input value is BAD_USER_INPUT on both backends, logs no error and
writes nothing; ids are compared in one canonical spelling everywhere."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from projections.order_views.queries import MAX_PAGE, MAX_SEARCH_TERM_LENGTH, MAX_SEARCH_TERMS
from tests.api.operations import ADD_ITEM, CANCEL, CREATE, ORDER, SHIP, order_input
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, websocket
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def api(shared_api: RunningServer) -> RunningServer:
    """One server per backend for the whole module: every test here uses ids of its own."""
    return shared_api

EVENTS = "query($id: ID!) { orderEvents(orderId: $id) { version } }"
SEARCH = (
    "query($q: String, $f: OrderFilter, $page: Int) "
    "{ searchOrders(query: $q, filter: $f, page: $page) { total items { orderId } } }"
)
PROJECTED = (
    "subscription($id: ID!) { orderProjected(orderId: $id, minVersion: 1, timeoutMs: 5000) { orderId version } }"
)
UPDATED = "subscription($id: ID!) { orderUpdated(orderId: $id) { orderId version } }"
PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the server logged at ERROR or with a traceback while the test ran."""
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR or record.exc_info]


async def bad_user_input(api: RunningServer, query: str, variables: dict[str, Any] | None = None) -> str:
    """The message of the first error, which must be BAD_USER_INPUT."""
    body = await api.gql.execute(query, variables)
    assert body.get("errors"), body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body["errors"]
    return str(body["errors"][0]["message"])


async def events_of(api: RunningServer, order_id: str) -> list[dict[str, Any]]:
    return (await api.gql.data(EVENTS, {"id": order_id}))["orderEvents"]  # type: ignore[no-any-return]


async def create(api: RunningServer, **changes: Any) -> dict[str, Any]:
    return (await api.gql.data(CREATE, {"input": order_input(**changes)}))["createOrder"]  # type: ignore[no-any-return]


NUL_IN_READS = {
    "order literal": ('{ order(orderId: "x\\u0000y") { orderId } }', None),
    "order variable": ("query($id: ID!) { order(orderId: $id) { orderId } }", {"id": "x\x00y"}),
    "order uuid variable": ("query($id: ID!) { order(orderId: $id) { orderId } }", {"id": f"{uuid.uuid4()}\x00"}),
    "order waiting": ("query($id: ID!) { order(orderId: $id, minVersion: 1, waitMs: 10) { orderId } }", {"id": "\x00"}),
    "orderEvents": (EVENTS, {"id": "x\x00"}),
    "customer": ('{ customer(customerId: "c\\u0000") { orderCount } }', None),
    "customerOrders": ("query($c: ID!) { customerOrders(customerId: $c) { total } }", {"c": "c\x00"}),
    "search query": (SEARCH, {"q": "main\x00st"}),
    "search filter": (SEARCH, {"f": {"customerId": "c\x00"}}),
}


@pytest.mark.parametrize(("query", "variables"), list(NUL_IN_READS.values()), ids=list(NUL_IN_READS))
async def test_a_nul_in_a_read_argument_is_bad_user_input(
    api: RunningServer, caplog: pytest.LogCaptureFixture, query: str, variables: dict[str, Any] | None
) -> None:
    caplog.set_level(logging.INFO)
    assert "NUL" in await bad_user_input(api, query, variables)
    assert errors_logged(caplog) == []


NUL_IN_CREATE = {
    "customerId": {"customerId": "c\x00"},
    "productId": {"items": [{"productId": "p\x00", "quantity": 1, "price": "1"}]},
    "line1": {"shippingAddress": {"line1": "1\x00 Main", "city": "c", "postalCode": "1", "country": "US"}},
    "line2": {"shippingAddress": {"line1": "1", "line2": "\x00", "city": "c", "postalCode": "1", "country": "US"}},
    "city": {"shippingAddress": {"line1": "1", "city": "c\x00", "postalCode": "1", "country": "US"}},
    "postalCode": {"shippingAddress": {"line1": "1", "city": "c", "postalCode": "1\x00", "country": "US"}},
    "country": {"shippingAddress": {"line1": "1", "city": "c", "postalCode": "1", "country": "U\x00S"}},
    "commandId": {"commandId": "key\x00"},
}


@pytest.mark.parametrize("changes", list(NUL_IN_CREATE.values()), ids=list(NUL_IN_CREATE))
async def test_a_nul_in_create_order_is_bad_user_input_and_writes_nothing(
    api: RunningServer, caplog: pytest.LogCaptureFixture, changes: dict[str, Any]
) -> None:
    caplog.set_level(logging.INFO)
    order_id = str(uuid.uuid4())
    message = await bad_user_input(api, CREATE, {"input": order_input(orderId=order_id, **changes)})
    assert "NUL" in message and message.startswith("input.")
    assert await events_of(api, order_id) == []
    assert errors_logged(caplog) == []


async def test_a_nul_in_other_commands_is_bad_user_input_and_writes_nothing(
    api: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    order_id = (await create(api))["orderId"]
    add = {"orderId": order_id, "productId": "p\x00", "quantity": 1, "price": "1"}
    assert "NUL" in await bad_user_input(api, ADD_ITEM, {"input": add})
    assert "NUL" in await bad_user_input(api, CANCEL, {"input": {"orderId": order_id, "reason": "no\x00"}})
    assert "NUL" in await bad_user_input(api, SHIP, {"input": {"orderId": order_id, "commandId": "\x00"}})
    assert "NUL" in await bad_user_input(api, SHIP, {"input": {"orderId": f"{order_id}\x00"}})
    assert len(await events_of(api, order_id)) == 1
    assert errors_logged(caplog) == []


@pytest.mark.parametrize(
    "body",
    [
        # escapes in the document: GraphQL refuses an unpaired surrogate escape
        {"query": '{ order(orderId: "x\\ud800") { orderId } }'},
        {"query": '{ customer(customerId: "\\udc00") { orderCount } }'},
        # raw in the document, and in a variable's value (JSON escapes: the body is ASCII)
        {"query": '{ order(orderId: "x\ud800") { orderId } }'},
        {"query": "query($id: ID!) { order(orderId: $id) { orderId } }", "variables": {"id": "x\ud800"}},
        {"query": CREATE, "variables": {"input": order_input(customerId="c\udfff")}},
    ],
    ids=["escape", "low escape", "raw", "variable", "create variable"],
)
async def test_an_unpaired_surrogate_is_bad_user_input(
    api: RunningServer, caplog: pytest.LogCaptureFixture, body: dict[str, Any]
) -> None:
    caplog.set_level(logging.INFO)
    headers = {"content-type": "application/json"}
    response = await api.http.post(api.url, content=json.dumps(body).encode(), headers=headers)
    # A body whose JSON the transport cannot take may be refused before GraphQL (a 400);
    # either way the answer is BAD_USER_INPUT, never an internal error.
    assert response.status_code in (200, 400)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors_logged(caplog) == []


async def test_a_surrogate_pair_is_one_good_character(api: RunningServer) -> None:
    suffix = uuid.uuid4().hex[:8]
    created = await create(api, customer_id=f"cust-\U0001f600-{suffix}")
    # the same id written with a surrogate-pair escape in the document
    customer = f"cust-\\ud83d\\ude00-{suffix}"
    query = f'{{ customerOrders(customerId: "{customer}", minPosition: {created["position"]}) {{ total }} }}'
    assert (await api.gql.data(query))["customerOrders"]["total"] == 1


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('{ searchOrders(filter: {createdAfter: "2020-01-01T00:00:00"}) { total } }', None),
        ('{ searchOrders(filter: {createdBefore: "2020-01-01"}) { total } }', None),
        (SEARCH, {"f": {"createdAfter": "2020-01-01T00:00:00"}}),
        (SEARCH, {"f": {"createdAfter": "2020-01-01"}}),
        (SEARCH, {"f": {"createdBefore": "2020-01-01 00:00:00+00:00"}}),
        (SEARCH, {"f": {"createdBefore": "2020-02-30T00:00:00Z"}}),
        (SEARCH, {"f": {"createdBefore": "0001-01-01T00:00:00+01:00"}}),
        (SEARCH, {"f": {"createdBefore": 1700000000}}),
    ],
    ids=["no offset literal", "date literal", "no offset", "date", "space", "no such day", "before year 1", "number"],
)
async def test_a_date_time_without_an_offset_is_bad_user_input(
    api: RunningServer, caplog: pytest.LogCaptureFixture, query: str, variables: dict[str, Any] | None
) -> None:
    caplog.set_level(logging.INFO)
    await bad_user_input(api, query, variables)
    assert errors_logged(caplog) == []


async def test_date_time_bounds_in_any_offset_mean_the_same_instant(api: RunningServer) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    order_id = (await create(api, customer_id=customer))["orderId"]
    created_at = (await api.gql.data(ORDER, {"id": order_id, "minVersion": 1, "waitMs": 10_000}))["order"]["createdAt"]
    instant = datetime.fromisoformat(created_at).astimezone(timezone(timedelta(hours=5, minutes=30)))
    bound = instant.isoformat()  # the same instant, written at +05:30: both bounds are inclusive
    page = (await api.gql.data(SEARCH, {"f": {"customerId": customer, "createdAfter": bound, "createdBefore": bound}}))
    assert [item["orderId"] for item in page["searchOrders"]["items"]] == [order_id]
    later = (instant + timedelta(seconds=1)).isoformat()
    page = (await api.gql.data(SEARCH, {"f": {"customerId": customer, "createdAfter": later}}))
    assert page["searchOrders"]["total"] == 0


BAD_AMOUNTS = ["NaN", "-NaN", "Infinity", "-Infinity", "inf", "1e999999999", "1E+2", "1_000", " 12.5 ",
               "\u0661\u0662", "\uff11\uff12", "", "1.", ".5", "9" * 41, 12, 12.5]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
async def test_a_bad_min_total_is_bad_user_input(
    api: RunningServer, caplog: pytest.LogCaptureFixture, amount: Any
) -> None:
    caplog.set_level(logging.INFO)
    await bad_user_input(api, SEARCH, {"f": {"minTotal": amount}})
    await bad_user_input(api, SEARCH, {"f": {"maxTotal": amount}})
    assert errors_logged(caplog) == []


@pytest.mark.parametrize("literal", ['"NaN"', '"Infinity"', '"1e999999999"', "5", "5.5", '"1_000"'])
async def test_a_bad_decimal_literal_is_bad_user_input(api: RunningServer, literal: str) -> None:
    await bad_user_input(api, f"{{ searchOrders(filter: {{minTotal: {literal}}}) {{ total }} }}")


@pytest.mark.parametrize("price", ["1_000", " 12.5 ", "\u0661\u0662", "\uff11\uff12", "1e2", "NaN", 12, 12.5], ids=repr)
async def test_a_lax_price_is_bad_user_input_and_writes_nothing(
    api: RunningServer, caplog: pytest.LogCaptureFixture, price: Any
) -> None:
    caplog.set_level(logging.INFO)
    order_id = str(uuid.uuid4())
    items = [{"productId": "p", "quantity": 1, "price": price}]
    await bad_user_input(api, CREATE, {"input": order_input(orderId=order_id, items=items)})
    assert await events_of(api, order_id) == []
    created = (await create(api))["orderId"]
    item = {"orderId": created, "productId": "p", "quantity": 1, "price": price}
    await bad_user_input(api, ADD_ITEM, {"input": item})
    assert len(await events_of(api, created)) == 1
    assert errors_logged(caplog) == []


async def test_prices_keep_their_spelling_and_minus_zero_is_zero(api: RunningServer) -> None:
    items = [{"productId": "a", "quantity": 2, "price": "12.50"}, {"productId": "b", "quantity": 1, "price": "-0"},
             {"productId": "c", "quantity": 1, "price": "-0.00"}]
    order_id = (await create(api, items=items))["orderId"]
    order = (await api.gql.data(ORDER, {"id": order_id, "minVersion": 1, "waitMs": 10_000}))["order"]
    assert [(item["price"], item["lineTotal"]) for item in order["items"]] == [
        ("12.50", "25.00"), ("0", "0"), ("0.00", "0.00")]
    assert order["totalAmount"] == "25.00"


@pytest.mark.parametrize(
    "query",
    [
        "x" * 50_001,
        "x" * (MAX_SEARCH_TERM_LENGTH + 1),
        " ".join(f"t{number}" for number in range(1000)),
        " ".join(f"t{number}" for number in range(MAX_SEARCH_TERMS + 1)),
    ],
    ids=["50001 characters", "one too long", "1000 terms", "one term too many"],
)
async def test_too_long_or_too_many_search_terms_are_bad_user_input(
    api: RunningServer, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    caplog.set_level(logging.INFO)
    await bad_user_input(api, SEARCH, {"q": query})
    assert errors_logged(caplog) == []


async def test_search_terms_up_to_the_limits_are_answered(api: RunningServer) -> None:
    longest = " ".join(["y" * MAX_SEARCH_TERM_LENGTH] * 3)  # repeats count once
    many = " ".join(f"t{number}" for number in range(MAX_SEARCH_TERMS))
    for query in (longest, many, "  ", ""):
        assert "total" in (await api.gql.data(SEARCH, {"q": query}))["searchOrders"]


@pytest.mark.parametrize("page", [MAX_PAGE + 1, 2_147_483_647])
async def test_a_page_beyond_the_ceiling_is_bad_user_input(api: RunningServer, page: int) -> None:
    assert "page" in await bad_user_input(api, SEARCH, {"page": page})
    assert "page" in await bad_user_input(
        api, "query($p: Int) { customerOrders(customerId: \"c\", page: $p, pageSize: 100) { total } }", {"p": page})


async def test_the_last_allowed_page_is_answered(api: RunningServer) -> None:
    page = (await api.gql.data(SEARCH, {"page": MAX_PAGE}))["searchOrders"]
    assert page["items"] == []


async def test_an_upper_case_order_id_names_the_same_order_everywhere(api: RunningServer) -> None:
    order_id = str(uuid.uuid4())
    upper = order_id.upper()
    assert (await create(api, orderId=order_id))["orderId"] == order_id
    order = (await api.gql.data(ORDER, {"id": upper, "minVersion": 1, "waitMs": 10_000}))["order"]
    assert order is not None and order["orderId"] == order_id
    assert len(await events_of(api, upper)) == 1
    assert await api.gql.error_code(CREATE, {"input": order_input(orderId=upper)}) == "CONCURRENCY_CONFLICT"
    added = (await api.gql.data(ADD_ITEM, {"input": {
        "orderId": upper, "productId": "p", "quantity": 1, "price": "1"}}))["addOrderItem"]
    assert (added["orderId"], added["version"]) == (order_id, 2)
    shipped = (await api.gql.data(SHIP, {"input": {"orderId": upper.title(), "expectedVersion": 2}}))["shipOrder"]
    assert (shipped["orderId"], shipped["version"]) == (order_id, 3)
    assert len(await events_of(api, order_id)) == 3


async def test_an_order_created_with_an_upper_case_id_is_stored_in_lower_case(api: RunningServer) -> None:
    order_id = str(uuid.uuid4())
    assert (await create(api, orderId=order_id.upper()))["orderId"] == order_id
    found = await api.gql.data(ORDER, {"id": order_id, "minVersion": 1, "waitMs": 10_000})
    assert found["order"]["orderId"] == order_id
    assert await api.gql.error_code(CREATE, {"input": order_input(orderId=order_id)}) == "CONCURRENCY_CONFLICT"


@pytest.mark.parametrize(
    "order_id",
    ["{0f8fad5b-d9cb-469f-a165-70867728950e}", "0f8fad5bd9cb469fa16570867728950e",
     "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e", "\u0660" * 8 + "-d9cb-469f-a165-70867728950e",
     " 0f8fad5b-d9cb-469f-a165-70867728950e"],
    ids=["braces", "no hyphens", "urn", "arabic-indic digits", "space"],
)
async def test_only_one_uuid_spelling_creates_an_order(api: RunningServer, order_id: str) -> None:
    assert "UUID" in await bad_user_input(api, CREATE, {"input": order_input(orderId=order_id)})


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($c: ID!) { customerOrders(customerId: $c) { total } }", {"c": "c" * 101}),
        ("query($c: ID!) { customer(customerId: $c) { orderCount } }", {"c": " "}),
        ("query($id: ID!) { order(orderId: $id) { orderId } }", {"id": ""}),
        ("query($id: ID!) { orderEvents(orderId: $id) { version } }", {"id": "o" * 101}),
        (SHIP, {"input": {"orderId": str(uuid.uuid4()), "commandId": ""}}),
        (SHIP, {"input": {"orderId": str(uuid.uuid4()), "commandId": "k" * 101}}),
    ],
    ids=["long customer", "blank customer", "empty order", "long order", "empty command", "long command"],
)
async def test_an_empty_or_over_long_id_is_bad_user_input(
    api: RunningServer, query: str, variables: dict[str, Any]
) -> None:
    await bad_user_input(api, query, variables)


BAD_SUBSCRIPTIONS = {
    **{f"{name} {case}": (query, {"id": order_id})
       for name, query in (("orderProjected", PROJECTED), ("orderUpdated", UPDATED))
       for case, order_id in (
           ("nul", "x\x00y"), ("uuid nul", f"{uuid.uuid4()}\x00"), ("empty", ""), ("long", "o" * 101)
       )},
    "orderProjected literal nul": (
        'subscription { orderProjected(orderId: "\\u0000", minVersion: 1) { version } }', {}
    ),
    "projectionCaughtUp nul": (
        'subscription { projectionCaughtUp(name: "order_views\\u0000", position: 0) { name } }', {}
    ),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("subscription", "variables"), list(BAD_SUBSCRIPTIONS.values()), ids=list(BAD_SUBSCRIPTIONS))
async def test_a_subscription_with_a_bad_argument_is_bad_user_input(
    api: RunningServer, caplog: pytest.LogCaptureFixture, protocol: str, subscription: str, variables: dict[str, Any]
) -> None:
    caplog.set_level(logging.INFO)
    async with websocket(api.url, protocol) as ws:
        stream = await ws.subscribe(subscription, variables)
        kind, payload = await stream.next_message(timeout=5)
    assert kind == "error", payload
    assert payload[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors_logged(caplog) == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscriptions_find_an_order_by_its_upper_case_id(api: RunningServer, protocol: str) -> None:
    order_id = (await create(api))["orderId"]
    async with websocket(api.url, protocol) as ws:
        projected = await ws.subscribe(PROJECTED, {"id": order_id.upper()})
        kind, payload = await projected.next_message()
        assert kind == "next", payload
        assert payload["data"]["orderProjected"] == {"orderId": order_id, "version": 1}
        updated = await ws.subscribe(UPDATED, {"id": order_id.upper()})
        kind, payload = await updated.next_message()
        assert kind == "next", payload
        assert payload["data"]["orderUpdated"] == {"orderId": order_id, "version": 1}
        await updated.stop()
