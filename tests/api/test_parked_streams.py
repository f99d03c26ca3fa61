"""On PostgreSQL, over GraphQL: a poison event written straight into the log parks one order; the rest goes on.

Waits on the parked order fail at once with PROJECTION_FAILED (HTTP and both WebSocket
protocols), its query answers the last good view, other orders' commands and waits go on,
and admins (only) list, retry and skip parked streams, from GraphQL and from the CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from orderly.parked_command import run_parked
from orderly.settings import Settings
from tests.api.authorization_support import auth_settings, authed_websocket, bearer
from tests.api.operations import ADD_ITEM, CREATE, order_input
from tests.projections.test_parking import insert_poison, repair_poison
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS
from tests.support.server import RunningServer, running_server

ROOT = Path(__file__).resolve().parent.parent.parent
# Made when the module loads: valid for a whole suite run, however long a loaded machine makes it.
ADMIN = bearer("ops", "admin", ttl=6 * 3600)

ORDER = "query($id: ID!, $v: Int, $w: Int) { order(orderId: $id, minVersion: $v, waitMs: $w) { version itemCount } }"
ORDER_PROJECTED = """
subscription($id: ID!, $v: Int!) { orderProjected(orderId: $id, minVersion: $v, timeoutMs: 10000) { version } }"""
CAUGHT_UP = """
subscription($p: Position!) { projectionCaughtUp(name: "order_views", position: $p, timeoutMs: 10000) { position } }"""
PARKED = """
query($p: String) { parkedStreams(projection: $p) { projection streamId version eventType attempts error request } }"""
RETRY = "mutation($id: ID!) { retryParkedStream(streamId: $id) { projection streamId request } }"
SKIP = "mutation($id: ID!, $p: String) { skipParkedEvent(streamId: $id, projection: $p) { projection request } }"
PROJECTIONS = "{ projections { name state parkedStreams lastError } }"


@pytest.fixture
async def server(postgres_url: str) -> AsyncIterator[RunningServer]:
    """Auth on; a failing batch is tried twice, then its poison stream parks."""
    settings: Settings = auth_settings(postgres_url).with_changes(projection_retries=1)
    async with running_server(settings) as running:
        yield running


async def graphql(
    server: RunningServer, headers: dict[str, str], query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await server.http.post(server.url, json={"query": query, "variables": variables or {}}, headers=headers)
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:  # bounds a hang only
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def create(server: RunningServer, headers: dict[str, str], customer: str) -> str:
    body = await graphql(server, headers, CREATE, {"input": order_input(customer)})
    order_id: str = body["data"]["createOrder"]["orderId"]
    assert (await projected(server, headers, order_id, 1))["version"] == 1
    return order_id


async def projected(server: RunningServer, headers: dict[str, str], order_id: str, version: int) -> dict[str, Any]:
    """The order's view once it has `version`: waits of 10 s (the most waitMs allows) until it has."""
    views: list[dict[str, Any]] = []

    async def reached() -> bool:
        body = await graphql(server, headers, ORDER, {"id": order_id, "v": version, "w": 10_000})
        views.append(body["data"]["order"])
        return bool(views[-1] and views[-1]["version"] >= version)

    await eventually(reached)
    return views[-1]


async def parked_rows(server: RunningServer) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await graphql(server, ADMIN, PARKED))["data"]["parkedStreams"]
    return rows


async def test_a_poison_event_parks_one_order_while_the_others_go_on(server: RunningServer) -> None:
    customer = "cust-parking"
    me = bearer(customer, "customer")
    good, bad = await create(server, me, customer), await create(server, me, customer)
    await insert_poison(server.container.database, bad, 2)

    async def parked_in_both() -> bool:
        return {row["projection"] for row in await parked_rows(server)} == {"order_views", "customer_summaries"}

    await eventually(parked_in_both)
    rows = await graphql(server, ADMIN, PARKED, {"p": "order_views"})
    (row,) = rows["data"]["parkedStreams"]
    assert (row["streamId"], row["version"], row["eventType"], row["attempts"], row["request"]) == (
        bad, 2, "order.item_added", 2, None,
    )
    assert row["error"].startswith("AttributeError")

    # The parked order: waits fail at once, plain reads answer the last good view.
    waited = await graphql(server, me, ORDER, {"id": bad, "v": 2, "w": 10_000})
    assert codes(waited) == ["PROJECTION_FAILED"] and waited["data"]["order"] is None
    assert (await graphql(server, me, ORDER, {"id": bad}))["data"]["order"]["version"] == 1
    # Another customer learns nothing: the order reads as null, as any order of someone else's.
    stranger = await graphql(server, bearer("cust-stranger", "customer"), ORDER, {"id": bad, "v": 2, "w": 100})
    assert stranger == {"data": {"order": None}}
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        async with authed_websocket(server.url, protocol, me) as ws:
            subscription = await ws.subscribe(ORDER_PROJECTED, {"id": bad, "v": 2})
            kind, errors = await subscription.next_message()
            assert kind == "error" and [error["extensions"]["code"] for error in errors] == ["PROJECTION_FAILED"]

    # Another order: commands, waits and subscriptions go on; the position moves on.
    added = await graphql(server, me, ADD_ITEM, {"input": {"orderId": good, "productId": "p", "quantity": 1, "price": "1"}})
    version = added["data"]["addOrderItem"]["version"]
    async with authed_websocket(server.url, TRANSPORT_WS, me) as ws:
        subscription = await ws.subscribe(ORDER_PROJECTED, {"id": good, "v": version})
        kind, payload = await subscription.next_message()
        assert kind == "next" and payload["data"]["orderProjected"]["version"] == version
        caught_up = await ws.subscribe(CAUGHT_UP, {"p": added["data"]["addOrderItem"]["position"]})
        assert (await caught_up.next_message())[0] == "next"
    assert (await projected(server, me, good, version))["version"] == 2
    statuses = {status["name"]: status for status in (await graphql(server, ADMIN, PROJECTIONS))["data"]["projections"]}
    assert {name: (status["state"], status["parkedStreams"]) for name, status in statuses.items()} == {
        "order_views": ("RUNNING", 1), "customer_summaries": ("RUNNING", 1),
    }

    # The cause is fixed; an admin asks for a retry; the projector replays the stream.
    await repair_poison(server.container.database, bad, 2)
    retried = await graphql(server, ADMIN, RETRY, {"id": bad})
    assert sorted((row["projection"], row["request"]) for row in retried["data"]["retryParkedStream"]) == [
        ("customer_summaries", "RETRY"), ("order_views", "RETRY"),
    ]

    async def released() -> bool:
        return await parked_rows(server) == []

    await eventually(released)
    fixed = await graphql(server, me, ORDER, {"id": bad, "v": 2, "w": 10_000})
    assert fixed["data"]["order"] == {"version": 2, "itemCount": 5}


def orderly(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderly.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False, env={**os.environ},
    )


async def parked_command(postgres_url: str, action: str, stream: str | None = None, projection: str | None = None) -> int:
    """`orderly parked ...` in this process (the subprocess costs seconds; one test below runs the real one)."""
    args = argparse.Namespace(action=action, stream=stream, projection=projection)
    return await run_parked(args, Settings(database_url=postgres_url))


async def test_only_admins_see_and_release_parked_streams_and_the_cli_does_the_same(
    server: RunningServer, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = "cust-parked-cli"
    me = bearer(customer, "customer")
    staff = bearer("desk", "staff")
    bad = await create(server, me, customer)
    await insert_poison(server.container.database, bad, 2)

    async def parked_in_views() -> bool:
        return any(row["projection"] == "order_views" for row in await parked_rows(server))

    await eventually(parked_in_views)
    for headers in (me, staff):
        assert codes(await graphql(server, headers, PARKED)) == ["FORBIDDEN"]
        assert codes(await graphql(server, headers, RETRY, {"id": bad})) == ["FORBIDDEN"]
        assert codes(await graphql(server, headers, SKIP, {"id": bad})) == ["FORBIDDEN"]
    assert codes(await graphql(server, ADMIN, RETRY, {"id": "order-never-parked"})) == ["BAD_USER_INPUT"]
    assert codes(await graphql(server, ADMIN, SKIP, {"id": bad, "p": "nope"})) == ["BAD_USER_INPUT"]

    capsys.readouterr()
    assert await parked_command(postgres_url, "list") == 0
    listed = capsys.readouterr().out
    assert any(line.split()[:3] == ["order_views", bad, "2"] for line in listed.splitlines())
    assert "AttributeError" in listed
    assert await parked_command(postgres_url, "retry", "order-never-parked") == 1
    missing = capsys.readouterr()
    assert missing.out == "" and "order-never-parked is not parked in any projection" in missing.err
    assert await parked_command(postgres_url, "skip") == 2
    assert "name the parked stream" in capsys.readouterr().err

    skipped = await asyncio.to_thread(
        orderly, "parked", "skip", bad, "--projection", "order_views", "--database-url", postgres_url
    )
    assert skipped.returncode == 0, skipped.stderr
    assert f"order_views will pass stream {bad} version 2" in skipped.stdout

    async def views_released() -> bool:
        return [row["projection"] for row in await parked_rows(server)] == ["customer_summaries"]

    # No Redis here: the projector finds the request at its next look at the table.
    await eventually(views_released)
    assert (await graphql(server, me, ORDER, {"id": bad, "v": 2, "w": 10_000}))["data"]["order"]["version"] == 2
    capsys.readouterr()
    assert await parked_command(postgres_url, "list", projection="order_views") == 0
    assert capsys.readouterr().out == "no parked streams\n"
