"""Each GraphQL operation in its own log scope (and, with tracing on, its own span, continuing
the caller's trace when the request carries a W3C traceparent header).

An operation-level hook only (on_operation, on_execute): no resolve hook, so the per-field
fast path (leaf_fields.py) stays on. The scope holds the operation's name and type; the
mutations add commandId and orderId, the append its position (eventstore/log_context.py),
so the error logged when the operation ends carries them all. For a subscription the scope
lasts as long as the subscription, in strawberry's task for that operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from eventstore import log_context, tracing

_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,127}")  # a GraphQL name, bounded: the client chose it


class OperationScope(SchemaExtension):
    """Opens the operation's log scope (and span); names its type once the document is parsed."""

    def on_operation(self) -> Iterator[None]:
        """The scope (and the span) around parsing, validation and execution."""
        name = _bounded_name(self.execution_context.operation_name)
        parent = _incoming_traceparent(self.execution_context.context) if tracing.enabled() else None
        with log_context.scope(operation_name=name), tracing.span("graphql.operation", parent=parent) as span:
            self._span = span
            yield

    def on_execute(self) -> Iterator[None]:
        """The document is parsed and valid: the operation's type (and its name from the document)."""
        context = self.execution_context
        name = _bounded_name(context.operation_name)
        kind = context.operation_type.value
        log_context.annotate(operation_name=name, operation_type=kind)
        span = getattr(self, "_span", None)
        if span is not None:
            span.update_name(f"graphql.{kind} {name or 'anonymous'}")
            span.set_attribute("graphql.operation.type", kind)
            if name is not None:
                span.set_attribute("graphql.operation.name", name)
        yield


def _incoming_traceparent(context: object) -> str | None:
    # The caller's W3C traceparent (HTTP request, or the WebSocket's upgrade request): the
    # operation continues the caller's trace. tracing.span ignores a malformed one.
    headers = getattr(getattr(context, "request", None), "headers", None)
    value = None if headers is None else headers.get("traceparent")
    return value if isinstance(value, str) else None


def _bounded_name(name: str | None) -> str | None:
    return name if name is not None and _NAME.fullmatch(name) else None
