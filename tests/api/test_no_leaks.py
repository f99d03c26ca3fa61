"""Nothing leaks: driver failures reach clients without SQL, paths or driver text, and a projection's
lastError (which may quote all three) and raw event payloads are for admins only."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from eventstore.tables import events
from orderly.settings import Settings
from schema.errors import INTERNAL_MESSAGE
from tests.api.authorization_support import auth_settings, authed_websocket, bearer
from tests.api.operations import CREATE, ORDER, order_input
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, websocket
from tests.support.server import RunningServer, running_server
from tests.support.tcp_proxy import TcpProxy

# What a driver's text, a statement or a traceback would show.
INTERNALS = (
    "select ", "insert ", "update ", " from ", "where ", "[sql", "sqlalchemy", "asyncpg", "aiosqlite", "sqlite3",
    "psycopg", "traceback", ".py", "/tmp", "/work", "no such table", "relation", "undefinedtable", "operationalerror",
    "programmingerror", "integrityerror", "order_views", "127.0.0.1", "5432", "refused", "connect call", "errno",
)
SEARCH = "{ searchOrders(query: \"x\") { total } }"
CUSTOMER_ORDERS = '{ customerOrders(customerId: "c") { total } }'
UPDATED = "subscription U($id: ID!) { orderUpdated(orderId: $id) { orderId } }"


def assert_no_internals(errors: Any) -> None:
    """The errors (as the client received them) name no statement, table, driver or file."""
    assert errors, "expected errors"
    seen = json.dumps(errors).lower()
    leaked = [marker for marker in INTERNALS if marker in seen]
    assert leaked == [], f"{leaked} in {errors}"


async def _drop(server: RunningServer, table: str, kind: str = "TABLE") -> None:
    async with server.container.database.engine.begin() as conn:
        await conn.execute(text(f"DROP {kind} {table}"))


async def test_a_failing_read_reaches_clients_masked(api: RunningServer) -> None:
    order_id = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"]
    await _drop(api, "order_views", "VIEW")  # the logical name is a view of the live generation
    for document, variables in ((ORDER, {"id": order_id}), (SEARCH, None), (CUSTOMER_ORDERS, None)):
        body = await api.gql.execute(document, variables)
        assert [error["extensions"]["code"] for error in body["errors"]] == ["INTERNAL_SERVER_ERROR"]
        assert [error["message"] for error in body["errors"]] == [INTERNAL_MESSAGE]
        assert set(body["errors"][0]["extensions"]) == {"code"}
        assert_no_internals(body["errors"])
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        async with websocket(api.url, protocol) as socket:
            subscription = await socket.subscribe(UPDATED, {"id": order_id})
            kind, errors = await subscription.next_message()
            assert kind == "error"
            assert [error["message"] for error in errors] == [INTERNAL_MESSAGE]
            assert_no_internals(errors)


async def test_a_failing_write_reaches_clients_masked(api: RunningServer) -> None:
    await _drop(api, "commands")
    body = await api.gql.execute(CREATE, {"input": order_input()})
    assert [error["extensions"]["code"] for error in body["errors"]] == ["INTERNAL_SERVER_ERROR"]
    assert [error["message"] for error in body["errors"]] == [INTERNAL_MESSAGE]
    assert_no_internals(body["errors"])


async def test_an_unreachable_database_is_named_by_no_address_or_driver(postgres_url: str) -> None:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        async with running_server(Settings(database_url=through_proxy, poll_interval=0.2, db_pool_timeout=2.0)) as server:
            order_id = (await server.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"]
            await proxy.cut()
            for document, variables in ((CREATE, {"input": order_input()}), (ORDER, {"id": order_id}), (SEARCH, None)):
                body = await server.gql.execute(document, variables)
                assert [error["extensions"]["code"] for error in body["errors"]] == ["SERVICE_UNAVAILABLE"]
                assert_no_internals(body["errors"])
    finally:
        await proxy.cut()


async def _break_a_projection(server: RunningServer) -> None:
    # An event no projector can read: the runners fail with a lastError quoting it until they park its stream.
    async with server.container.database.engine.begin() as conn:
        await conn.execute(insert(events).values(
            event_id=str(uuid.uuid4()), stream_id=f"broken-{uuid.uuid4().hex[:6]}", stream_type="order", version=1,
            type_name="order.created", schema_version=1, data={"not": "an order"}, occurred_at=datetime.now(UTC),
            command_id=None,
        ))


async def test_last_error_and_raw_payloads_are_for_admins_only(database_url: str) -> None:
    # Retries that outlast the test keep the projection FAILED with its lastError: with the default three,
    # the poison stream is parked within a second and lastError clears before the subscriptions read it.
    settings = auth_settings(database_url).with_changes(projection_retries=1_000)
    async with running_server(settings) as server:
        headers = {name: bearer(name, role) for name, role in
                   (("alice", "customer"), ("sam", "staff"), ("ada", "admin"))}

        async def post(name: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
            response = await server.http.post(server.url, json={"query": query, "variables": variables or {}},
                                              headers=headers[name])
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]

        order_id = (await post("alice", CREATE, {"input": {k: v for k, v in order_input().items() if k != "customerId"}}))[
            "data"]["createOrder"]["orderId"]
        await _break_a_projection(server)
        query = "{ projections { name state lastError } }"
        # Both projections fail on the event, each in its own time: the subscriptions below read order_views's.
        for _ in range(600):
            rows = (await post("ada", query))["data"]["projections"]
            if any(row["lastError"] for row in rows if row["name"] == "order_views"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"order_views did not fail: {rows}")
        for name in ("alice", "sam"):
            body = await post(name, query)
            assert "errors" not in body
            assert {row["lastError"] for row in body["data"]["projections"]} == {None}
            assert (await post(name, "query E($id: ID!) { orderEvents(orderId: $id) { data } }", {"id": order_id}))[
                "errors"][0]["extensions"]["code"] == "FORBIDDEN"
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            for name, shown in (("sam", False), ("ada", True)):
                async with authed_websocket(server.url, protocol, headers[name]) as socket:
                    status = await socket.subscribe(
                        'subscription { projectionCaughtUp(name: "order_views", position: 0) { lastError } }'
                    )
                    kind, payload = await status.next_message()
                    assert kind == "next"
                    assert (payload["data"]["projectionCaughtUp"]["lastError"] is not None) is shown


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_unauthorized_answers_name_no_internals(database_url: str, protocol: str) -> None:
    async with running_server(auth_settings(database_url)) as server:
        response = await server.http.post(
            server.url, json={"query": "{ orderEvents(orderId: \"x\") { data } }"}, headers=bearer("alice", "customer")
        )
        assert_no_internals(response.json()["errors"])
        async with authed_websocket(server.url, protocol, bearer("nobody")) as socket:
            subscription = await socket.subscribe(UPDATED, {"id": "x"})
            kind, errors = await subscription.next_message()
            assert kind == "error"
            assert_no_internals(errors)
