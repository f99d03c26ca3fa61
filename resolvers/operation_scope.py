"""Each GraphQL operation in its own log scope (and, with tracing on, its own span, continuing
the caller's trace when the request carries a W3C traceparent header).

An operation-level hook only (on_operation, on_execute): no resolve hook, so the per-field
fast path (leaf_fields.py) stays on. The scope holds the operation's name and type; the
mutations add commandId and orderId, the append its position (eventstore/log_context.py),
so the error logged when the operation ends carries them all. For a subscription the scope
lasts as long as the subscription, in strawberry's task for that operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from strawberry.extensions import SchemaExtension

from eventstore import log_context, tracing

MAX_NAME = 128  # characters of an operation name the log keeps


class OperationScope(SchemaExtension):
    """Opens the operation's log scope (and span); names its type once the document is parsed."""

    _span: Any = None

    def on_operation(self) -> Iterator[None]:
        """The scope (and the span) around parsing, validation and execution."""
        context = self.execution_context
        token = log_context.open_scope(operation_name=_bounded_name(context.operation_name))
        try:
            if not tracing.enabled():
                yield
                return
            with tracing.span("graphql.operation", parent=_incoming_traceparent(context.context)) as span:
                self._span = span
                yield
        finally:
            log_context.close_scope(token)

    def on_execute(self) -> Iterator[None]:
        """The document is parsed and valid: the operation's type (and its name from the document)."""
        context = self.execution_context
        name_operation(self._span, context.operation_name, context.operation_type.value)
        yield


@contextmanager
def operation_scope(name: str | None, kind: str, context: object) -> Iterator[None]:
    """The same scope (and span) for an operation whose document is known valid before it starts
    (resolvers/compiled_operations.py): opened, named and typed at once."""
    token = log_context.open_scope(operation_name=_bounded_name(name))
    try:
        if not tracing.enabled():
            name_operation(None, name, kind)
            yield
            return
        with tracing.span("graphql.operation", parent=_incoming_traceparent(context)) as span:
            name_operation(span, name, kind)
            yield
    finally:
        log_context.close_scope(token)


def name_operation(span: Any, operation_name: str | None, kind: str) -> None:
    """Annotate the scope (and name the span, if any) with the operation's name and type."""
    name = _bounded_name(operation_name)
    log_context.annotate(operation_name=name, operation_type=kind)
    if span is not None:
        span.update_name(f"graphql.{kind} {name or 'anonymous'}")
        span.set_attribute("graphql.operation.type", kind)
        if name is not None:
            span.set_attribute("graphql.operation.name", name)


def _incoming_traceparent(context: object) -> str | None:
    # The caller's W3C traceparent (HTTP request, or the WebSocket's upgrade request): the
    # operation continues the caller's trace. tracing.span ignores a malformed one.
    headers = getattr(getattr(context, "request", None), "headers", None)
    value = None if headers is None else headers.get("traceparent")
    return value if isinstance(value, str) else None


def _bounded_name(name: str | None) -> str | None:
    # A GraphQL name (ASCII letters, digits, underscore; not starting with a digit), bounded:
    # the client chose it. An ASCII Python identifier is exactly that.
    if name is None or len(name) > MAX_NAME or not (name.isascii() and name.isidentifier()):
        return None
    return name
