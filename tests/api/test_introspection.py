"""ORDERLY_INTROSPECTION=false refuses __schema and __type on every transport, as BAD_USER_INPUT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, websocket
from tests.support.server import RunningServer

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # nothing here depends on the database

SCHEMA = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "Order") { name } }'
# The legacy protocol runs subscriptions only; validation covers the whole document.
WITH_A_SUBSCRIPTION = """
query Peek { __schema { queryType { name } } }
subscription Watch { orderUpdated(orderId: "o") { orderId } }
"""


def assert_introspection_refused(errors: list[dict[str, Any]]) -> None:
    assert errors, "introspection was answered"
    assert {error["extensions"]["code"] for error in errors} == {"BAD_USER_INPUT"}
    assert "introspection has been disabled" in errors[0]["message"]


async def test_introspection_is_on_by_default(api: RunningServer) -> None:
    assert await api.gql.data(SCHEMA) == {"__schema": {"queryType": {"name": "Query"}}}


async def test_introspection_off_over_http_post_and_get(server_factory: Callable[..., Any]) -> None:
    async with server_factory(introspection=False) as api:
        for document in (SCHEMA, TYPE):
            assert_introspection_refused((await api.gql.execute(document))["errors"])
            response = await api.http.get(api.url, params={"query": document}, headers={"accept": "application/json"})
            assert_introspection_refused(response.json()["errors"])
        assert await api.gql.data("{ __typename }") == {"__typename": "Query"}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_introspection_off_over_websocket(server_factory: Callable[..., Any], protocol: str) -> None:
    async with server_factory(introspection=False) as api, websocket(api.url, protocol) as ws:
        subscription = await ws.subscribe(WITH_A_SUBSCRIPTION, operation_name="Watch")
        kind, errors = await subscription.next_message()
        assert kind == "error", errors
        assert_introspection_refused(errors)
