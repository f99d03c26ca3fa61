"""Client mistakes at the transport level get the contract's answer: a JSON error with
BAD_USER_INPUT (or LIMIT_EXCEEDED) and the GraphQL-over-HTTP status over HTTP, the protocol's
error message or 4400 close over WebSocket; never a 500, a traceback or a dropped socket."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.api.operations import CREATE, order_input
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS
from tests.support.raw_websocket import raw_websocket
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def api(shared_api: RunningServer) -> RunningServer:
    """One server per backend for the whole module: every test here uses ids of its own."""
    return shared_api

JSON = {"content-type": "application/json"}
GRAPHQL_RESPONSE = "application/graphql-response+json"
SUBSCRIPTION = 'subscription { projectionCaughtUp(name: "order_views", position: 0) { name } }'
EVENTS = "query($id: ID!) { orderEvents(orderId: $id) { version } }"


@pytest.fixture
def problems(api: RunningServer, caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """Log records that show a crash (a traceback or an error), uvicorn's own included."""
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING)
    try:
        yield lambda: [record.getMessage() for record in caplog.records
                       if record.exc_info or record.levelno >= logging.ERROR]
    finally:
        uvicorn_logger.removeHandler(caplog.handler)


def assert_request_error(response: httpx.Response, status: int, *, media_type: str = "application/json") -> str:
    """The response is one BAD_USER_INPUT request error, without data, in JSON; its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == media_type
    body = response.json()
    assert set(body) == {"errors"}, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"} and error["message"]
    return str(error["message"])


@pytest.mark.parametrize("accept", [None, "application/json", "multipart/mixed", "text/event-stream",
                                    'multipart/mixed;subscriptionSpec="1.0", application/json'])
async def test_a_subscription_over_post_is_a_request_error(api: RunningServer, problems, accept: str | None) -> None:  # type: ignore[no-untyped-def]
    headers = {**JSON, **({"accept": accept} if accept else {})}
    response = await api.http.post(api.url, json={"query": SUBSCRIPTION}, headers=headers)
    assert "WebSocket" in assert_request_error(response, 200)
    assert problems() == []


async def test_a_subscription_over_get_is_a_request_error(api: RunningServer, problems) -> None:  # type: ignore[no-untyped-def]
    response = await api.http.get(api.url, params={"query": SUBSCRIPTION}, headers={"accept": "application/json"})
    assert "WebSocket" in assert_request_error(response, 200)
    response = await api.http.get(api.url, params={"query": SUBSCRIPTION}, headers={"accept": GRAPHQL_RESPONSE})
    assert_request_error(response, 400, media_type=GRAPHQL_RESPONSE)
    assert problems() == []


async def test_a_subscription_over_post_is_a_400_for_graphql_response_json(api: RunningServer, problems) -> None:  # type: ignore[no-untyped-def]
    response = await api.http.post(api.url, json={"query": SUBSCRIPTION}, headers={**JSON, "accept": GRAPHQL_RESPONSE})
    assert_request_error(response, 400, media_type=GRAPHQL_RESPONSE)
    assert problems() == []


DEEP = b"[" * 1000 + b"]" * 1000
BAD_BODIES = {
    "null": b"null",
    "string": b'"str"',
    "number": b"123",
    "empty array": b"[]",
    "nested 1,000 deep": DEEP,
    "nested 5,000 deep": b"[" * 5000 + b"]" * 5000,
    "not UTF-8": b'{"query": "{ projections { name } }", "x": "\xff\xfe"}',
    "unpaired surrogate in variables": b'{"query": "query($id: ID!) { order(orderId: $id) { orderId } }", '
                                       b'"variables": {"id": "\\ud800"}}',
    "operationName not a string": b'{"query": "{ projections { name } }", "operationName": {"obj": "ect"}}',
    "empty": b"",
}


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8; x=y"])
@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
async def test_a_body_that_is_not_a_graphql_request_is_a_json_400(
    api: RunningServer, problems, body: bytes, content_type: str  # type: ignore[no-untyped-def]
) -> None:
    response = await api.http.post(api.url, content=body, headers={"content-type": content_type})
    assert_request_error(response, 400)
    assert problems() == []


def create_inline(name: str, order_id: str) -> str:
    """A createOrder mutation named `name`, its input inline."""
    return (f'mutation {name} {{ createOrder(input: {{orderId: "{order_id}", customerId: "c", items: '
            '[{productId: "p", quantity: 1, price: "1"}], shippingAddress: {line1: "l", city: "c", '
            'postalCode: "1", country: "US"}}) { orderId } }')


async def test_two_operations_without_a_name_run_neither(api: RunningServer, problems) -> None:  # type: ignore[no-untyped-def]
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    document = create_inline("A", first) + " " + create_inline("B", second)
    response = await api.http.post(api.url, json={"query": document}, headers=JSON)
    assert "operationName" in assert_request_error(response, 200)
    response = await api.http.post(api.url, json={"query": document}, headers={**JSON, "accept": GRAPHQL_RESPONSE})
    assert_request_error(response, 400, media_type=GRAPHQL_RESPONSE)
    for order_id in (first, second):
        assert (await api.gql.data(EVENTS, {"id": order_id}))["orderEvents"] == []
    assert problems() == []


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_a_mutation_over_get_is_a_405_allowing_post(api: RunningServer, problems, accept: str) -> None:  # type: ignore[no-untyped-def]
    order_id = str(uuid.uuid4())
    variables = json.dumps({"input": order_input(orderId=order_id)})
    response = await api.http.get(api.url, headers={"accept": accept}, params={"query": CREATE, "variables": variables})
    assert response.headers["allow"] == "POST"
    assert_request_error(response, 405, media_type=accept)
    assert (await api.gql.data(EVENTS, {"id": order_id}))["orderEvents"] == []
    assert problems() == []


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_a_method_graphql_does_not_serve_is_a_json_405(api: RunningServer, problems, method: str) -> None:  # type: ignore[no-untyped-def]
    response = await api.http.request(method, api.url, headers=JSON, content=b'{"query": "{ projections { name } }"}')
    assert response.headers["allow"] == "GET, POST"
    assert_request_error(response, 405)
    assert problems() == []


# ---- WebSocket ----------------------------------------------------------------------------

MALFORMED_FRAMES = {"array": "[]", "number": "123", "null": "null", "string": '"x"', "not JSON": "{nope",
                    "binary": b'{"type": "ping"}'}


@pytest.mark.parametrize("frame", list(MALFORMED_FRAMES.values()), ids=list(MALFORMED_FRAMES))
async def test_transport_ws_closes_4400_on_a_malformed_frame(api: RunningServer, problems, frame: str | bytes) -> None:  # type: ignore[no-untyped-def]
    async with raw_websocket(api.url, TRANSPORT_WS) as socket:
        await socket.init()
        await socket.socket.send(frame)
        code, reason = await socket.closed()
    assert code == 4400 and reason
    assert problems() == []


@pytest.mark.parametrize("message", [
    {"type": "subscribe", "id": "1"},
    {"type": "subscribe", "id": "1", "payload": None},
    {"type": "subscribe", "id": "1", "payload": {"query": 5}},
    {"type": "subscribe", "id": "1", "payload": {"query": "{ projections { name } }", "variables": [1]}},
    {"type": "subscribe", "payload": {"query": "{ projections { name } }"}},
    {"type": "complete"},
    {"type": ["x"]},
    {"type": "x" * 300},
], ids=["no payload", "null payload", "query not a string", "variables not an object", "no id",
        "complete without id", "type not a string", "long unknown type"])
async def test_transport_ws_closes_4400_on_a_malformed_message(api: RunningServer, problems, message: dict) -> None:  # type: ignore[no-untyped-def]
    async with raw_websocket(api.url, TRANSPORT_WS) as socket:
        await socket.init()
        await socket.send(message)
        code, reason = await socket.closed()
    assert code == 4400 and reason
    assert problems() == []


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("query", ["subscription {", "subscription A { nope } subscription B { nope }", ""],
                         ids=["syntax error", "two operations", "empty"])
async def test_a_request_error_over_websocket_is_an_error_message(
    api: RunningServer, problems, protocol: str, query: str  # type: ignore[no-untyped-def]
) -> None:
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    async with raw_websocket(api.url, protocol) as socket:
        await socket.init()
        await socket.send({"id": "1", "type": start, "payload": {"query": query}})
        message = await socket.text_message()
        assert (message["id"], message["type"]) == ("1", "error"), message
        errors = message["payload"] if protocol == TRANSPORT_WS else [message["payload"]]
        assert errors and all(error["extensions"]["code"] == "BAD_USER_INPUT" for error in errors)
        await socket.send({"type": "ping"} if protocol == TRANSPORT_WS else {"id": "2", "type": "stop"})
        if protocol == TRANSPORT_WS:
            assert (await socket.text_message())["type"] == "pong"  # the connection lives on
    assert problems() == []


@pytest.mark.parametrize("frame", list(MALFORMED_FRAMES.values()), ids=list(MALFORMED_FRAMES))
async def test_legacy_ws_answers_a_malformed_frame_with_connection_error_and_a_close(
    api: RunningServer, problems, frame: str | bytes  # type: ignore[no-untyped-def]
) -> None:
    async with raw_websocket(api.url, LEGACY_WS) as socket:
        await socket.init()
        await socket.socket.send(frame)
        message = await socket.text_message()
        code, reason = await socket.closed()
    assert message["type"] == "connection_error"
    assert message["payload"]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert code == 4400 and reason
    assert problems() == []


@pytest.mark.parametrize("message", [
    {"type": "start", "id": "1"},
    {"type": "start", "id": "1", "payload": None},
    {"type": "start", "id": "1", "payload": {"query": ["x"]}},
    {"type": "stop"},
    {"type": "nonsense", "id": "1"},
], ids=["start without payload", "null payload", "query not a string", "stop without id", "unknown type"])
async def test_legacy_ws_answers_a_malformed_message_with_an_error(api: RunningServer, problems, message: dict) -> None:  # type: ignore[no-untyped-def]
    async with raw_websocket(api.url, LEGACY_WS) as socket:
        await socket.init()
        await socket.send(message)
        answer = await socket.text_message()
    assert answer["type"] == "error" and answer.get("id") == message.get("id")
    assert answer["payload"]["extensions"] == {"code": "BAD_USER_INPUT"} and answer["payload"]["message"]
    assert problems() == []
