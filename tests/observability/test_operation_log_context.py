"""Log lines made while a request runs carry its request id, operation, commandId, orderId and position."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventstore.bus import EVENTS_CHANNEL
from eventstore.local_bus import InProcessBus
from eventstore.messages import Notice
from orderly.log_format import JsonFormatter
from tests.api.operations import CREATE, order_input
from tests.conftest import fresh_database_url
from tests.support.graphql_client import TRANSPORT_WS, websocket
from tests.support.server import running_server, server_settings


class UnannouncingBus(InProcessBus):
    """A bus that cannot publish append notices (the append is committed; the store logs the failure)."""

    async def publish(self, channel: str, notice: Notice) -> None:
        if channel == EVENTS_CHANNEL:
            raise ConnectionError("the bus is down")
        await super().publish(channel, notice)


class BrokenClock:
    def now(self) -> datetime:
        raise RuntimeError("the clock broke")


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the root logger writes while the test runs, as JSON lines (the servers the test starts
    open their operations' log scopes, as with ORDERLY_LOG_FORMAT=json, without reconfiguring logging)."""
    monkeypatch.setattr("orderly.app.operation_scope_wanted", lambda settings: True)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


@pytest.fixture
async def sqlite_url(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database_url("sqlite", sqlite_template, tmp_path) as url:
        yield url


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_line_logged_during_a_mutation_carries_the_request_and_the_command(
    sqlite_url: str, json_lines: io.StringIO
) -> None:
    command_id = str(uuid.uuid4())
    settings = server_settings(sqlite_url, run_projectors=False)
    async with running_server(settings, bus=UnannouncingBus()) as api:
        response = await api.http.post(
            api.url, json={"query": CREATE, "variables": {"input": order_input(commandId=command_id)}},
            headers={"x-request-id": "client-req-1"},
        )
    created = response.json()["data"]["createOrder"]
    assert response.headers["x-request-id"] == "client-req-1"
    [line] = [line for line in parsed(json_lines) if line["message"] == "could not announce appended events"]
    assert line["request_id"] == "client-req-1"
    assert (line["operation_name"], line["operation_type"]) == ("Create", "mutation")
    assert (line["command_id"], line["order_id"], line["position"]) == (command_id, created["orderId"], created["position"])
    assert "ConnectionError: the bus is down" in line["exception"]


async def test_a_failing_request_logs_its_traceback_on_one_line_with_its_request_id(
    sqlite_url: str, json_lines: io.StringIO
) -> None:
    settings = server_settings(sqlite_url, run_projectors=False)
    async with running_server(settings, clock=BrokenClock()) as api:
        response = await api.http.post(
            api.url, json={"query": CREATE, "variables": {"input": order_input()}},
            headers={"x-request-id": "x" * 129},  # too long: replaced by a fresh id
        )
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32 and request_id != "x" * 129
    [line] = [line for line in parsed(json_lines) if line["level"] == "ERROR"]
    assert line["request_id"] == request_id
    assert (line["operation_name"], line["operation_type"]) == ("Create", "mutation")
    assert line["exception"].startswith("Traceback") and "RuntimeError: the clock broke" in line["exception"]


async def test_a_websocket_connection_gets_a_request_id_too(sqlite_url: str) -> None:
    async with running_server(server_settings(sqlite_url, run_projectors=False)) as api:
        async with websocket(api.url, TRANSPORT_WS) as ws:
            echoed = ws.socket.response.headers["x-request-id"]
    assert len(echoed) == 32


@pytest.mark.parametrize(("log_format", "scoped"), [("json", True), ("text", False)])
def test_operations_open_a_log_scope_only_where_a_log_line_shows_it(log_format: str, scoped: bool) -> None:
    # Text lines show no scope fields, so the extension (a few per cent of an order read) is left out.
    from orderly.app import create_app
    from orderly.settings import Settings
    from resolvers.operation_scope import OperationScope

    app = create_app(Settings(database_url="sqlite:///unused.db", log_format=log_format))
    (graphql,) = [route.endpoint for route in app.routes if getattr(route, "path", None) == "/graphql"][:1]
    extensions = graphql.schema.get_extensions()
    assert any(isinstance(extension, OperationScope) for extension in extensions) is scoped
