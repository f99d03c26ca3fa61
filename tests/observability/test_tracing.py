"""With tracing on, one write is one chain of spans: the operation, its append (a child), the projector
batch that applied it (linked to the append) and the subscription message that confirmed it (linked to
the batch). Without it, nothing of OpenTelemetry is imported."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="tracing needs the otel extra: pip install 'orderly[otel]'")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from eventstore import tracing  # noqa: E402
from eventstore.bus import EVENTS_CHANNEL  # noqa: E402
from eventstore.local_bus import InProcessBus  # noqa: E402
from eventstore.messages import EventsAppended, ProjectionAdvanced, decode, encode  # noqa: E402
from eventstore.trace_tap import AppendTraceTap  # noqa: E402
from orderly.setting_values import SettingsError  # noqa: E402
from orderly.settings import Settings  # noqa: E402
from orderly.tracing_setup import configure_tracing, install_provider  # noqa: E402
from tests.api.operations import CREATE, order_input  # noqa: E402
from tests.conftest import fresh_database_url  # noqa: E402
from tests.support.graphql_client import TRANSPORT_WS, websocket  # noqa: E402
from tests.support.processes import ROOT  # noqa: E402
from tests.support.server import running_server, server_settings  # noqa: E402

CAUGHT_UP = "subscription W($p: Position!) { projectionCaughtUp(name: \"order_views\", position: $p) { position } }"
PROJECTED = "subscription P($id: ID!) { orderProjected(orderId: $id, minVersion: 1) { version } }"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans of this process, kept in memory; tracing off again afterwards."""
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    install_provider(provider)
    try:
        yield exported
    finally:
        tracing.install(None)
        provider.shutdown()


@pytest.fixture
async def sqlite_url(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database_url("sqlite", sqlite_template, tmp_path) as url:
        yield url


def only(spans: list[ReadableSpan], name: str, **attributes: Any) -> ReadableSpan:
    found = [
        span for span in spans
        if span.name == name and all((span.attributes or {}).get(key) == value for key, value in attributes.items())
    ]
    assert len(found) == 1, (name, attributes, [(span.name, span.attributes) for span in spans])
    return found[0]


def linked(span: ReadableSpan, target: ReadableSpan) -> bool:
    assert target.context is not None
    return any(
        (link.context.trace_id, link.context.span_id) == (target.context.trace_id, target.context.span_id)
        for link in span.links
    )


@pytest.fixture(params=["sqlite", "postgres+redis"])
def traced_settings(request: pytest.FixtureRequest) -> Settings:
    """The embedded road (in-process bus), and PostgreSQL with the notices crossing Redis.

    Long polls: the runner and the tracker move on the bus notices, which carry the contexts.
    """
    if request.param == "sqlite":
        return server_settings(request.getfixturevalue("sqlite_url"), poll_interval=30.0)
    return server_settings(
        request.getfixturevalue("postgres_url"), poll_interval=30.0,
        redis_url=request.getfixturevalue("redis_url"), bus_namespace=f"t.{uuid.uuid4().hex}",
    )


async def test_a_write_is_linked_from_its_operation_to_the_message_that_confirmed_it(
    traced_settings: Settings, exporter: InMemorySpanExporter
) -> None:
    async with running_server(traced_settings) as api:
        # A first write, seen through to the read model, settles the runners into waiting on their doorbells.
        warm_up = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]
        await api.gql.data("query($id: ID!) { order(orderId: $id, minVersion: 1, waitMs: 10000) { version } }",
                           {"id": warm_up["orderId"]})
        caller = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
        # The subscriptions below may confirm from the database before this process hears the
        # batch's notice (over Redis, a moment later), and then have no context to link to:
        # hear it first, through the tracker that hands it to tracing.
        assert api.container.tracker is not None
        async with api.container.tracker.listen("order_views") as heard:
            response = await api.http.post(
                api.url, json={"query": CREATE, "variables": {"input": order_input()}}, headers={"traceparent": caller}
            )
            created = response.json()["data"]["createOrder"]
            while True:
                notice = await heard.get(timeout=10)
                assert notice is not None, "no notice of the batch"
                if isinstance(notice, ProjectionAdvanced) and notice.position >= created["position"]:
                    break
        async with websocket(api.url, TRANSPORT_WS) as ws:
            caught_up = await ws.subscribe(CAUGHT_UP, {"p": created["position"]})
            assert (await caught_up.next_message())[0] == "next"
            assert (await caught_up.next_message())[0] == "complete"
            projected = await ws.subscribe(PROJECTED, {"id": created["orderId"]})
            assert (await projected.next_message())[0] == "next"
            assert (await projected.next_message())[0] == "complete"
    spans = list(exporter.get_finished_spans())

    append = only(spans, "eventstore.append", **{"orderly.stream_id": created["orderId"]})
    assert append.parent is not None
    [operation] = [span for span in spans if span.context is not None and span.context.span_id == append.parent.span_id]
    assert operation.name == "graphql.mutation Create"
    assert operation.parent is not None and (operation.parent.trace_id, operation.parent.span_id) == (
        int("ab" * 16, 16), int("cd" * 8, 16))  # the caller's trace goes on
    batch = only(spans, "projection.batch", **{"orderly.projection": "order_views", "orderly.position": created["position"]})
    confirmed = only(spans, "subscription.message projectionCaughtUp")
    projected_message = only(spans, "subscription.message orderProjected")

    assert operation.context is not None and append.context is not None and append.context.trace_id == operation.context.trace_id
    assert linked(batch, append)
    assert linked(confirmed, batch) and linked(projected_message, batch)
    assert only(spans, "graphql.subscription W").context is not None


async def test_a_projector_process_taps_append_notices_from_other_processes(exporter: InMemorySpanExporter) -> None:
    bus = InProcessBus()
    tap = AppendTraceTap(bus)
    await tap.start()
    context = "00-" + "12" * 16 + "-" + "34" * 8 + "-01"
    try:
        # As a notice from an API process arrives: published on the bus, never announced here.
        await bus.publish(EVENTS_CHANNEL, EventsAppended(
            stream_id="o", version=1, first_position=41, position=42, traceparent=context))
        for _ in range(100):  # the tap's task takes the notice at its next turn of the loop
            if tracing.append_links(40, 42):
                break
            await asyncio.sleep(0)
        assert tracing.append_links(40, 42) == [context] and tracing.append_links(41, 50) == []
    finally:
        await tap.stop()
    assert bus.subscriber_count() == 0


async def test_without_tracing_the_tap_does_not_listen() -> None:
    bus = InProcessBus()
    tap = AppendTraceTap(bus)
    await tap.start()
    assert bus.subscriber_count() == 0
    await tap.stop()


def test_the_notices_carry_a_traceparent_and_drop_a_malformed_one() -> None:
    context = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    appended = EventsAppended(stream_id="o", version=1, first_position=1, position=1, traceparent=context)
    advanced = ProjectionAdvanced(name="p", from_position=0, position=1, streams={"o": 1}, traceparent=context)
    assert decode(encode(appended)) == appended and decode(encode(advanced)) == advanced
    bad = b'{"stream_id": "o", "version": 1, "first_position": 1, "position": 1, "traceparent": "nope\\n"}'
    assert decode(bad) == EventsAppended(stream_id="o", version=1, first_position=1, position=1)


def test_a_bad_endpoint_is_a_clear_settings_error_and_none_leaves_tracing_off() -> None:
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_ENDPOINT='collector:4318': must be an http"):
        configure_tracing({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})
    assert configure_tracing({}) is False and not tracing.enabled()


def test_without_the_otel_extra_the_server_builds_and_tracing_stays_off() -> None:
    # (redis-py imports OpenTelemetry itself when it is installed, so the packages are hidden here.)
    script = """
import importlib.abc, sys

class NoOpenTelemetry(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, NoOpenTelemetry())
from eventstore import tracing
from orderly.app import create_app
from orderly.settings import Settings
from orderly.tracing_setup import configure_tracing
create_app(Settings(database_url="sqlite:///unused.db"))
assert configure_tracing({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) is False
with tracing.span("nothing"):
    assert tracing.traceparent() is None
print("off")
"""
    output = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert output.returncode == 0, output.stderr
    assert output.stdout.strip() == "off"
    assert "pip install 'orderly[otel]'" in output.stderr
