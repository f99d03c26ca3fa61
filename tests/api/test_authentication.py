"""Authentication as a client sees it, against a real server with ORDERLY_AUTH_JWT_SECRET set:
HTTP POST (both roads through the view) and GET answer 401 with UNAUTHENTICATED and a Bearer
challenge; GraphiQL's page and assets stay reachable; both WebSocket protocols take the token
from connection_init, refuse the connection without a valid one, and end a subscription whose
token expires."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
import websockets

from orderly.auth.settings import AuthSettings
from orderly.auth.tokens import issue_token
from orderly.graphiql.assets import STATIC_PATH
from tests.api.operations import CREATE, order_input
from tests.conftest import fresh_database_url
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket
from tests.support.jwt_keys import SECRET, claims, ec_key, ed25519_key, jwks_server
from tests.support.raw_websocket import raw_websocket
from tests.support.server import RunningServer, running_server, server_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
AUTH = AuthSettings(jwt_secret=SECRET, leeway=0)
TYPENAME = {"query": "{ __typename }"}
ORDER_UPDATED = "subscription($id: ID!) { orderUpdated(orderId: $id) { orderId version } }"
CAUGHT_UP = 'subscription { projectionCaughtUp(name: "order_views", position: 0) { name } }'


def token(subject: str = "alice", roles: tuple[str, ...] = ("admin",), ttl: float = 300) -> str:
    return issue_token(SECRET, subject=subject, roles=roles, ttl=ttl)


def bearer(value: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {value or token()}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    """One server with authentication on, for the module (auth does not touch the database)."""
    async with fresh_database_url("sqlite", sqlite_template, tmp_path_factory.mktemp("auth")) as url:
        async with running_server(server_settings(url, auth=AUTH)) as api:
            yield api


def assert_unauthenticated(response: httpx.Response, challenge: str = "Bearer") -> str:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == challenge
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    return str(error["message"])


# --- HTTP -----------------------------------------------------------------------------------


async def test_a_post_without_a_token_is_401_on_the_json_road(server: RunningServer) -> None:
    message = assert_unauthenticated(await server.http.post(server.url, json=TYPENAME))
    assert message == "Authentication required: send Authorization: Bearer <token>"


async def test_a_post_without_a_token_is_401_on_strawberrys_road_too(server: RunningServer) -> None:
    # A batch (a JSON list) is not the fast path's shape: strawberry's `run` builds the context.
    assert_unauthenticated(await server.http.post(server.url, json=[TYPENAME]))
    assert_unauthenticated(await server.http.post(server.url, content=b"query=x",
                                                  headers={"content-type": "application/x-www-form-urlencoded"}))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Bearer not.a.token", "The token is malformed"),
        (f"Bearer {issue_token('another-secret-that-is-32-bytes-long!!', subject='a', roles=['admin'], ttl=60)}",
         "The token's signature is not valid"),
        (f"Bearer {jwt.encode(claims(roles=['admin']), None, algorithm='none')}", "The token's algorithm is not accepted"),
        (f"Bearer {jwt.encode(claims(exp=1, nbf=0), SECRET, algorithm='HS256')}", "The token has expired"),
        ("Basic YWxpY2U6c2VjcmV0", "The Authorization header must be: Bearer <token>"),
    ],
)
async def test_a_post_with_a_bad_token_is_401_with_an_invalid_token_challenge(
    server: RunningServer, value: str, message: str
) -> None:
    response = await server.http.post(server.url, json=TYPENAME, headers={"Authorization": value})
    assert assert_unauthenticated(response, 'Bearer error="invalid_token"') == message


async def test_a_post_without_a_token_is_refused_before_its_body_is_read(server: RunningServer) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        # The body is announced and never sent: only an answer that does not wait for it arrives.
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000\r\n\r\n")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        assert status_line.startswith(b"HTTP/1.1 401"), status_line
    finally:
        writer.close()


async def test_the_401_speaks_the_media_type_the_client_accepts(server: RunningServer) -> None:
    response = await server.http.post(server.url, json=TYPENAME, headers={"accept": "application/graphql-response+json"})
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert_unauthenticated(response)


async def test_a_valid_token_is_served_over_post_and_get(server: RunningServer) -> None:
    posted = await server.http.post(server.url, json=TYPENAME, headers=bearer())
    assert (posted.status_code, posted.json()) == (200, {"data": {"__typename": "Query"}})
    got = await server.http.get(server.url, params=TYPENAME, headers=bearer())
    assert (got.status_code, got.json()) == (200, {"data": {"__typename": "Query"}})


async def test_a_get_without_a_token_is_401(server: RunningServer) -> None:
    assert_unauthenticated(await server.http.get(server.url, params=TYPENAME))


async def test_graphiql_and_its_assets_load_without_a_token(server: RunningServer) -> None:
    page = await server.http.get(server.url, headers={"accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    asset = page.text.split(f'"{STATIC_PATH}/', 1)[1].split('"', 1)[0]
    assert (await server.http.get(f"{server.base_url}{STATIC_PATH}/{asset}")).status_code == 200
    assert (await server.http.get(f"{server.base_url}/healthz")).status_code == 200


async def test_a_method_graphql_refuses_stays_405_without_a_token(server: RunningServer) -> None:
    assert (await server.http.put(server.url, json=TYPENAME)).status_code == 405


async def test_a_mutation_runs_as_the_tokens_principal(server: RunningServer) -> None:
    staff = await server.http.post(server.url, json={"query": CREATE, "variables": {"input": order_input()}},
                                   headers=bearer(token("staff-1", ("staff",))))
    assert staff.status_code == 200 and "errors" not in staff.json(), staff.text
    nobody = await server.http.post(server.url, json={"query": CREATE, "variables": {"input": order_input()}},
                                    headers=bearer(token("x", ())))
    assert nobody.status_code == 200
    assert nobody.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # a token without a role


# --- WebSocket ------------------------------------------------------------------------------


async def init_and_wait(url: str, protocol: str, payload: dict[str, Any] | None) -> tuple[list[dict[str, Any]], int | None]:
    """connection_init with the payload; the messages received until the server closes, and its close code."""
    async with raw_websocket(url, protocol) as socket:
        await socket.send({"type": "connection_init", "payload": payload} if payload is not None
                          else {"type": "connection_init"})
        messages = []
        try:
            while True:
                messages.append(await socket.text_message(timeout=5))
        except websockets.ConnectionClosed:
            pass
        code, _ = await socket.closed()
        return messages, code


BAD_PAYLOADS = [
    None,
    {},
    {"Authorization": "Bearer not.a.token"},
    {"Authorization": f"Bearer {jwt.encode(claims(exp=1, nbf=0), SECRET, algorithm='HS256')}"},
    {"authorization": "Basic YWxpY2U6c2VjcmV0"},
]


@pytest.mark.parametrize("payload", BAD_PAYLOADS)
async def test_transport_ws_closes_4403_without_a_valid_token(server: RunningServer, payload: Any) -> None:
    messages, code = await init_and_wait(server.url, TRANSPORT_WS, payload)
    assert (messages, code) == ([], 4403)


@pytest.mark.parametrize("payload", BAD_PAYLOADS)
async def test_legacy_ws_sends_connection_error_then_closes_without_a_valid_token(
    server: RunningServer, payload: Any
) -> None:
    messages, code = await init_and_wait(server.url, LEGACY_WS, payload)
    [error] = messages
    assert error["type"] == "connection_error"
    assert error["payload"]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert code == 1011  # as subscriptions-transport-ws's server closes after a refused onConnect


@asynccontextmanager
async def connected(url: str, protocol: str, payload: dict[str, Any]) -> AsyncIterator[GraphQLWebSocket]:
    """An acknowledged socket whose connection_init carried the payload."""
    async with websockets.connect(url.replace("http://", "ws://", 1), subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        while (message := json.loads(await asyncio.wait_for(socket.recv(), 5)))["type"] != "connection_ack":
            assert message["type"] == "ka", message
        yield GraphQLWebSocket(socket, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("key", ["Authorization", "authorization"])
async def test_the_connection_inits_token_serves_every_operation_on_the_socket(
    server: RunningServer, protocol: str, key: str
) -> None:
    async with connected(server.url, protocol, {key: f"Bearer {token('staff-2', ('staff',))}"}) as ws:
        for _ in range(2):
            kind, payload = await (await ws.subscribe(CAUGHT_UP)).next_message()
            assert kind == "next" and payload["data"]["projectionCaughtUp"]["name"] == "order_views", payload
    async with connected(server.url, protocol, {key: f"Bearer {token('x', ())}"}) as ws:
        kind, payload = await (await ws.subscribe(CAUGHT_UP)).next_message()
        assert kind == "error" and payload[0]["extensions"]["code"] == "FORBIDDEN"  # a token without a role


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_subscription_ends_with_unauthenticated_when_its_token_expires(
    server: RunningServer, protocol: str
) -> None:
    order = (await server.http.post(server.url, json={"query": CREATE, "variables": {"input": order_input()}},
                                    headers=bearer())).json()["data"]["createOrder"]
    short = token("admin-short", ("admin",), ttl=3)
    async with connected(server.url, protocol, {"Authorization": f"Bearer {short}"}) as ws:
        subscription = await ws.subscribe(ORDER_UPDATED, {"id": order["orderId"]})
        while (message := await subscription.next_message(timeout=10))[0] == "next":
            pass
        kind, errors = message
        assert kind == "error", message
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "expired" in errors[0]["message"]
        later = await ws.subscribe("{ __typename }")
        kind, errors = await later.next_message(timeout=5)
        assert kind == "error" and errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_jwks_url_server_follows_a_key_rotation(tmp_path: Path, sqlite_template: Path) -> None:
    old, new = ec_key("2026-old"), ed25519_key("2026-new")
    with jwks_server(old) as keys:
        settings = AuthSettings(jwks=keys.url, jwks_refresh_cooldown=0)
        async with fresh_database_url("sqlite", sqlite_template, tmp_path) as url:
            async with running_server(server_settings(url, auth=settings)) as api:

                async def status(key: Any) -> int:
                    headers = {"Authorization": f"Bearer {key.sign(claims(roles=['staff']))}"}
                    return (await api.http.post(api.url, json=TYPENAME, headers=headers)).status_code

                assert await status(old) == 200
                keys.rotate(new)
                assert await status(new) == 200  # an unknown kid: the set is fetched again
                assert keys.fetches == 2
                assert await status(old) == 401  # the retired key is gone from the new set
