"""Real JavaScript clients against a running server: the npm graphql-ws client (as GraphiQL,
Apollo and urql use it), the legacy protocol over a raw `ws` socket, and graphql-http's
GraphQL-over-HTTP server audit, which must report no warning and no failure."""

from __future__ import annotations

import json

import pytest

from tests.api.operations import CREATE, order_input
from tests.support.node_clients import require_node_clients, run_node
from tests.support.server import RunningServer

PROJECTED = "subscription($id: ID!) { orderProjected(orderId: $id, minVersion: 1) { orderId version } }"


@pytest.fixture(autouse=True)
def node_clients() -> None:
    """tests/clients installed, or the test skipped (failed under ORDERLY_REQUIRE_SERVICES=1)."""
    require_node_clients()


async def test_the_npm_graphql_ws_client_receives_order_projected(api: RunningServer) -> None:
    order_id = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"]
    ws_url = api.url.replace("http://", "ws://", 1)
    code, output = await run_node("graphql_ws_subscribe.mjs", ws_url, PROJECTED, json.dumps({"id": order_id}))
    assert (code, output["error"]) == (0, None), output
    assert output["results"] == [{"data": {"orderProjected": {"orderId": order_id, "version": 1}}}]


async def test_a_legacy_graphql_ws_client_receives_order_projected_in_text_frames(api: RunningServer) -> None:
    order_id = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"]
    ws_url = api.url.replace("http://", "ws://", 1)
    code, output = await run_node("legacy_ws_subscribe.mjs", ws_url, PROJECTED, json.dumps({"id": order_id}))
    assert code == 0, output
    assert [message["type"] for message in output["messages"]] == ["connection_ack", "data", "complete"]
    assert output["messages"][1]["payload"] == {"data": {"orderProjected": {"orderId": order_id, "version": 1}}}
    assert output["binaryFrames"] == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # HTTP rules: one backend is enough
async def test_graphql_http_server_audit_has_no_warning_or_failure(api: RunningServer) -> None:
    code, output = await run_node("audit_server.mjs", api.url)
    assert code == 0
    assert output["counts"]["warn"] == 0 and output["counts"]["error"] == 0, output["problems"]
    assert output["counts"]["ok"] == output["total"], output["problems"]
