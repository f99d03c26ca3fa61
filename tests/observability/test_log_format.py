"""The JSON log line: its fields, the scope's context, tracebacks on one line, the access log without queries."""

from __future__ import annotations

import asyncio
import logging
import sys

import orjson
import pytest
from uvicorn.config import LOGGING_CONFIG

from eventstore import log_context
from orderly.log_config import uvicorn_log_config
from orderly.log_format import JsonAccessFormatter, JsonFormatter
from orderly.settings import Settings, SettingsError


def record(message: str = "hello %s", args: tuple[object, ...] = ("world",), exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("orderly.test", logging.WARNING, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def test_a_line_has_timestamp_level_logger_message_and_the_scope_fields() -> None:
    with log_context.scope(request_id="r-1", operation_name="Create"):
        log_context.annotate(order_id="o-1", position=7)
        line = JsonFormatter().format(record())
    assert "\n" not in line
    fields = orjson.loads(line)
    assert fields["level"] == "WARNING" and fields["logger"] == "orderly.test" and fields["message"] == "hello world"
    assert fields["timestamp"].endswith("+00:00") and "T" in fields["timestamp"]
    assert (fields["request_id"], fields["operation_name"], fields["order_id"], fields["position"]) == (
        "r-1", "Create", "o-1", 7)


def test_outside_a_scope_a_line_has_no_context_fields() -> None:
    fields = orjson.loads(JsonFormatter().format(record()))
    assert set(fields) == {"timestamp", "level", "logger", "message"}


def test_a_traceback_is_one_string_field_on_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        line = JsonFormatter().format(record(exc_info=sys.exc_info()))
    assert "\n" not in line
    exception = orjson.loads(line)["exception"]
    assert exception.startswith("Traceback (most recent call last):") and "RuntimeError: boom" in exception


def test_only_context_fields_pass_as_extras() -> None:
    entry = record()
    entry.__dict__.update(position=3, authorization="Bearer secret", variables={"card": "4111"})
    fields = orjson.loads(JsonFormatter().format(entry))
    assert fields["position"] == 3 and "authorization" not in fields and "variables" not in fields


def test_the_access_line_has_its_parts_and_never_the_query_string() -> None:
    access = record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", "/graphql?variables=%7B%22pin%22%3A1234%7D", "1.1", 200))
    with log_context.scope(request_id="r-2"):
        fields = orjson.loads(JsonAccessFormatter().format(access))
    assert fields["message"] == "GET /graphql 200"
    assert (fields["method"], fields["path"], fields["status"], fields["client"]) == ("GET", "/graphql", 200, "127.0.0.1:5000")
    assert fields["request_id"] == "r-2"
    assert "pin" not in orjson.dumps(fields).decode()


def test_a_nested_scope_adds_fields_and_a_sibling_task_does_not_see_them() -> None:
    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        with log_context.scope(request_id="outer"):
            async def inner() -> dict[str, object]:
                with log_context.scope(operation_name="A"):
                    await asyncio.sleep(0)
                    return dict(log_context.current())

            async def sibling() -> dict[str, object]:
                await asyncio.sleep(0)
                return dict(log_context.current())

            return await asyncio.gather(inner(), sibling())  # type: ignore[return-value]

    inner, sibling = asyncio.run(scenario())
    assert inner == {"request_id": "outer", "operation_name": "A"}
    assert sibling == {"request_id": "outer"}
    assert log_context.current() == {}


def test_an_unknown_context_field_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        with log_context.scope(token="secret"):
            pass


def test_the_log_format_setting() -> None:
    assert Settings.from_mapping({}).log_format == "text"
    assert Settings.from_mapping({"ORDERLY_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="ORDERLY_LOG_FORMAT='yaml': must be text or json"):
        Settings.from_mapping({"ORDERLY_LOG_FORMAT": "yaml"})


def test_text_stays_uvicorns_own_configuration_and_json_sends_every_logger_to_one_stream() -> None:
    assert uvicorn_log_config("text", "INFO") is LOGGING_CONFIG
    config = uvicorn_log_config("json", "DEBUG")
    assert config["root"] == {"handlers": ["json"], "level": "DEBUG"}
    assert config["loggers"]["uvicorn.access"]["handlers"] == ["access"]
    assert {handler["stream"] for handler in config["handlers"].values()} == {"ext://sys.stderr"}
