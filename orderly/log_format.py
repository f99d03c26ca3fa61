"""ORDERLY_LOG_FORMAT=json: one JSON object a line, with the scope's context fields.

Each line has timestamp (UTC, ISO 8601, milliseconds), level, logger and message, the
fields of the log scope the record was made in (eventstore/log_context.py: request_id,
operation_name, operation_type, command_id, order_id, position, projection), and for a
record with an exception its traceback as one string field, `exception`, so a multi-line
traceback stays on its line. uvicorn's access log becomes the same kind of object with
client, method, path (without its query string: a GET's query carries variables' values)
and status.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from eventstore import log_context

# Context fields a record may also carry as `extra=` (e.g. a notice's position); no other
# extra reaches the line, so an unforeseen extra cannot leak a secret.
_EXTRA_FIELDS = log_context.FIELDS | {"stream_id"}


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's JSON object (the context fields of the scope it was logged in)."""
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(log_context.current())
        for name in _EXTRA_FIELDS.intersection(record.__dict__):
            line[name] = record.__dict__[name]
        line.update(self.record_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()

    def record_fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """Fields of this kind of record (none for an ordinary one)."""
        return {}


class JsonAccessFormatter(JsonFormatter):
    """uvicorn's access record (args: client, method, path with query, HTTP version, status) as JSON."""

    def record_fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """client, method, path (no query string), http_version, status; and a message of the same."""
        args = record.args
        if not (isinstance(args, tuple) and len(args) == 5):
            return {}
        client, method, full_path, http_version, status = args
        path = str(full_path).split("?", 1)[0]
        return {
            "message": f"{method} {path} {status}",
            "client": client,
            "method": method,
            "path": path,
            "http_version": http_version,
            "status": status,
        }
