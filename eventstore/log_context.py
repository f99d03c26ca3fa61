"""What every log line in a scope carries: request id, operation, commandId, orderId, position, projection.

One context variable holds the fields of the innermost scope. A scope is opened at the
operation level (an HTTP request, a GraphQL operation, a subscription's operation, a runner's
task) and copies its parent's fields, so a nested scope adds to them and a sibling never sees
them. `annotate` adds fields to the current scope in place: a mutation learns its orderId
after the operation began, and the error logged when the operation ends still carries it.
asyncio copies the context into each task it creates, so a task started inside a scope logs
with that scope's fields (and may annotate them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token

# The names the JSON log uses; a field outside them is refused, so nothing else (a token, a
# variable's value) can reach a log line through this door.
FIELDS = frozenset({"request_id", "operation_name", "operation_type", "command_id", "order_id", "position", "projection"})

_EMPTY: Mapping[str, object] = {}
_scope: ContextVar[dict[str, object] | None] = ContextVar("orderly_log_scope", default=None)


def current() -> Mapping[str, object]:
    """The fields of the current scope (empty outside any)."""
    return _scope.get() or _EMPTY


@contextmanager
def scope(**fields: object) -> Iterator[None]:
    """A nested scope: the parent's fields and these, until the block ends."""
    token = open_scope(**fields)
    try:
        yield
    finally:
        close_scope(token)


def open_scope(**fields: object) -> Token[dict[str, object] | None]:
    """Open a nested scope; close it with `close_scope` (the hook form of `scope`, for per-operation code)."""
    return _scope.set({**current(), **_checked(fields)})


def close_scope(token: Token[dict[str, object] | None]) -> None:
    """Close a scope `open_scope` opened."""
    try:
        _scope.reset(token)
    except ValueError:
        # Closed from another context (an abandoned async generator finalised elsewhere):
        # that context never saw the scope, so there is nothing to undo.
        pass


def enter(**fields: object) -> None:
    """Open a scope that lasts as long as the current context (a task's own, for a background task)."""
    _scope.set({**current(), **_checked(fields)})


def annotate(**fields: object) -> None:
    """Add fields to the current scope in place (nothing outside a scope)."""
    fields_now = _scope.get()
    if fields_now is not None:
        fields_now.update(_checked(fields))


def _checked(fields: dict[str, object]) -> dict[str, object]:
    if not fields.keys() <= FIELDS:
        raise ValueError(f"not a log context field: {', '.join(sorted(fields.keys() - FIELDS))}")
    return {name: value for name, value in fields.items() if value is not None}
