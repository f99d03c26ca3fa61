"""A scrape of /metrics over HTTP parses, and its series move when a client does work: queries,
mutations, errors by code, subscriptions opening and closing, projection batches and
read-your-writes waits. One server per backend for the module."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from orderly.metrics_settings import MetricsSettings
from tests.api.operations import CREATE, order_input
from tests.conftest import fresh_database_url
from tests.metrics.scrape import has_series, scrape, scrape_until, value
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, websocket
from tests.support.server import RunningServer, running_server, server_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECONDS = "orderly_graphql_operation_seconds_count"
ERRORS = "orderly_graphql_errors_total"
WAITS = "orderly_consistency_wait_seconds_count"
ORDER = "query Order($id: ID!, $v: Int, $w: Int) { order(orderId: $id, minVersion: $v, waitMs: $w) { version } }"
WATCH = "subscription Watch($id: ID!) { orderUpdated(orderId: $id) { orderId version } }"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(module_backend: tuple[str, Path | str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    """A server with ORDERLY_METRICS=on and its projectors."""
    backend, template = module_backend
    async with fresh_database_url(backend, template, tmp_path_factory.mktemp("metrics")) as url:
        async with running_server(server_settings(url, metrics=MetricsSettings(enabled=True))) as server:
            yield server


def metrics_url(api: RunningServer) -> str:
    return f"{api.base_url}/metrics"


async def create_order(api: RunningServer) -> str:
    return str((await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"])


async def test_a_mutation_and_a_query_move_their_latency_histograms(api: RunningServer) -> None:
    before = await scrape(api.http, metrics_url(api))
    order_id = await create_order(api)
    await api.gql.data(ORDER, {"id": order_id})
    after = await scrape(api.http, metrics_url(api))
    assert (
        value(after, SECONDS, operation="Create", type="mutation")
        == value(before, SECONDS, operation="Create", type="mutation") + 1
    )
    assert value(after, SECONDS, operation="Order", type="query") == value(before, SECONDS, operation="Order", type="query") + 1
    assert value(after, "orderly_graphql_operation_seconds_bucket", operation="Order", type="query", le="+Inf") >= 1


async def test_errors_are_counted_by_code_and_client_names_stay_bounded(api: RunningServer) -> None:
    invalid_name = f"Probe{uuid.uuid4().hex}"
    before = await scrape(api.http, metrics_url(api))
    assert await api.gql.error_code('query BadMin { order(orderId: "x", minVersion: -1) { version } }') == ("BAD_USER_INPUT")
    assert await api.gql.error_code(f"query {invalid_name} {{ noSuchField }}") == "BAD_USER_INPUT"
    after = await scrape(api.http, metrics_url(api))
    counted = {"operation": "BadMin", "type": "query", "code": "BAD_USER_INPUT"}
    assert value(after, ERRORS, **counted) == value(before, ERRORS, **counted) + 1
    # A name from a document that failed validation never becomes a label value.
    other = {"operation": "other", "type": "query", "code": "BAD_USER_INPUT"}
    assert value(after, ERRORS, **other) == value(before, ERRORS, **other) + 1
    response = await api.http.get(metrics_url(api))
    assert invalid_name not in response.text


async def test_read_your_writes_waits_are_counted_by_outcome(api: RunningServer) -> None:
    order_id = await create_order(api)
    before = await scrape(api.http, metrics_url(api))
    assert (await api.gql.data(ORDER, {"id": order_id, "v": 1}))["order"]["version"] == 1
    assert (await api.gql.data(ORDER, {"id": order_id, "v": 99, "w": 50}))["order"]["version"] == 1
    after = await scrape(api.http, metrics_url(api))
    for outcome in ("reached", "timed_out"):
        assert (
            value(after, WAITS, kind="order_version", outcome=outcome)
            == value(before, WAITS, kind="order_version", outcome=outcome) + 1
        ), outcome


async def test_a_projection_batch_moves_the_batch_series_and_the_lag_returns_to_zero(api: RunningServer) -> None:
    batches = "orderly_projection_batch_events_count"
    before = await scrape(api.http, metrics_url(api))
    order_id = await create_order(api)
    await api.gql.data(ORDER, {"id": order_id, "v": 1})
    after = await scrape_until(
        api.http,
        metrics_url(api),
        lambda s: value(s, batches, projection="order_views") > value(before, batches, projection="order_views"),
    )
    assert value(after, batches, projection="order_views") > value(before, batches, projection="order_views")
    assert value(after, "orderly_projection_batch_seconds_count", projection="order_views") >= 1
    assert value(after, "orderly_metrics_database_up") == 1
    head = value(after, "orderly_event_log_head_position")
    assert head >= 1
    assert value(after, "orderly_projection_position", projection="order_views") == head
    assert value(after, "orderly_projection_lag_events", projection="order_views") == 0
    assert value(after, "orderly_projection_lag_seconds", projection="order_views") == 0
    assert value(after, "orderly_projection_state", projection="order_views", state="RUNNING") == 1
    assert value(after, "orderly_db_pool_connections_open", default=-1, pool="sqlalchemy") >= 1


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_subscription_and_its_socket_are_open_while_they_run(api: RunningServer, protocol: str) -> None:
    order_id = await create_order(api)
    url = metrics_url(api)
    before = await scrape(api.http, url)
    sockets, subscriptions = "orderly_websocket_connections_open", "orderly_graphql_subscriptions_open"
    async with websocket(api.url, protocol) as ws:
        subscription = await ws.subscribe(WATCH, {"id": order_id}, operation_name="Watch")
        kind, payload = await subscription.next_message()
        assert kind == "next", payload
        during = await scrape(api.http, url)
        assert value(during, sockets) == value(before, sockets) + 1
        assert value(during, subscriptions) == value(before, subscriptions) + 1
        await subscription.stop()
        ended = await scrape_until(api.http, url, lambda s: value(s, subscriptions) == value(before, subscriptions))
        assert value(ended, subscriptions) == value(before, subscriptions)
        assert (
            value(ended, SECONDS, operation="Watch", type="subscription")
            == value(before, SECONDS, operation="Watch", type="subscription") + 1
        )
    closed = await scrape_until(api.http, url, lambda s: value(s, sockets) == value(before, sockets))
    assert value(closed, sockets) == value(before, sockets)


async def test_a_subscription_error_is_counted_with_its_code(api: RunningServer) -> None:
    url = metrics_url(api)
    before = await scrape(api.http, url)
    query = 'subscription Late { projectionCaughtUp(name: "order_views", position: 1000000000, timeoutMs: 50) { name } }'
    async with websocket(api.url, TRANSPORT_WS) as ws:
        subscription = await ws.subscribe(query, operation_name="Late")
        kind, payload = await subscription.next_message()
    assert kind == "error" and payload[0]["extensions"]["code"] == "CONSISTENCY_TIMEOUT"
    after = await scrape(api.http, url)
    labels = {"operation": "Late", "type": "subscription", "code": "CONSISTENCY_TIMEOUT"}
    assert value(after, ERRORS, **labels) == value(before, ERRORS, **labels) + 1
    assert (
        value(after, WAITS, kind="position", outcome="timed_out")
        == value(before, WAITS, kind="position", outcome="timed_out") + 1
    )


async def test_the_exposition_carries_no_order_or_customer_ids(api: RunningServer) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    created = await api.gql.data(CREATE, {"input": order_input(customer)})
    order_id = created["createOrder"]["orderId"]
    await api.gql.data(ORDER, {"id": order_id, "v": 1})
    text = (await api.http.get(metrics_url(api))).text
    assert order_id not in text and customer not in text
    assert has_series(await scrape(api.http, metrics_url(api)), "orderly_append_conflicts_total")


async def test_a_request_refused_before_it_is_an_operation_is_not_counted(api: RunningServer) -> None:
    before = await scrape(api.http, metrics_url(api))
    refused = await api.http.post(api.url, json={"query": WATCH, "variables": {"id": "x"}})
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"  # a subscription over HTTP
    after = await scrape(api.http, metrics_url(api))
    for operation in ("Watch", "other"):
        assert value(after, SECONDS, operation=operation, type="subscription") == value(
            before, SECONDS, operation=operation, type="subscription"
        )
