"""Operation metrics: one strawberry extension per operation (never per field), on every road.

Latency (for a subscription: its lifetime) and errors by code are counted per operation
name and type; open subscriptions are a gauge. Operation names are chosen by clients, so
a name becomes a label value only once its operation passed validation, and only the
first ORDERLY_METRICS_OPERATION_NAMES (100) such names of the process do; every other one
is "other" and an unnamed operation is "anonymous". Codes outside the contract's table are
"OTHER". A request refused before it is an operation (no query, no single operation to run,
a type the transport does not serve: an HTTP 400) is not counted.

The hook costs two clock reads and one histogram observation per operation; it runs only
when metrics are on (ORDERLY_METRICS or ORDERLY_METRICS_PORT), so the leaf-field fast
path and the request path are otherwise untouched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from graphql import GraphQLError
from prometheus_client import Counter, Gauge, Histogram
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from resolvers.update_handoff import accepted_handoff
from schema.errors import ERROR_CODES, error_code

MAX_OPERATION_NAMES = 100
ANONYMOUS = "anonymous"
OTHER = "other"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
UNKNOWN_TYPE = "unknown"  # the document could not be parsed, or named no single operation
KNOWN_CODES = frozenset({*ERROR_CODES.values(), INTERNAL_SERVER_ERROR})
# strawberry raises these before an operation exists; the HTTP view answers them with a 400 (its
# fast path hands them to strawberry's own, which meets them again) and WebSocket handlers turn
# them into an error result, counted there.
_NOT_AN_OPERATION = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)

OPERATION_SECONDS = Histogram(
    "orderly_graphql_operation_seconds",
    "GraphQL operations by name and type: time to the result (a subscription: its lifetime)",
    ["operation", "type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
OPERATION_ERRORS = Counter(
    "orderly_graphql_errors",
    "GraphQL errors sent to clients, by operation name, type and extensions.code",
    ["operation", "type", "code"],
)
OPEN_SUBSCRIPTIONS = Gauge("orderly_graphql_subscriptions_open", "Subscriptions running in this process")


class OperationNames:
    """The bounded set of operation names used as label values (first come, first kept)."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self._limit = limit
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None, *, valid: bool) -> str:
        """The label for an operation's name."""
        if not name:
            return ANONYMOUS
        if name in self._names:
            return name
        if not valid:
            return OTHER
        with self._lock:
            if len(self._names) >= self._limit:
                return OTHER
            self._names.add(name)
        return name


def code_label(code: object) -> str:
    """The code as a label value: one of the contract's, else OTHER."""
    return code if isinstance(code, str) and code in KNOWN_CODES else "OTHER"


def count_errors(operation: str, kind: str, errors: Iterable[GraphQLError]) -> None:
    """Count each error by its (already assigned) code."""
    for error in errors:
        OPERATION_ERRORS.labels(operation, kind, code_label((error.extensions or {}).get("code"))).inc()


class OperationMetrics(SchemaExtension):
    """Times each operation and counts its errors; streams (WebSocket) count each result's errors."""

    def __init__(self, names: OperationNames) -> None:
        self._names = names
        self._refused = False
        self._valid = False
        self._streamed = False
        self._open_subscription = False

    def on_validate(self) -> Iterator[None]:
        """Note whether the document passed validation (its name may then become a label); a valid
        subscription counts as open until its operation ends."""
        yield
        self._valid = not self.execution_context.pre_execution_errors
        if self._valid and self._operation_type() == OperationType.SUBSCRIPTION.value:
            self._open_subscription = True
            OPEN_SUBSCRIPTIONS.inc()

    def on_operation(self) -> Iterator[None]:
        """Time the operation; count its errors (or the exception that ended it)."""
        started = time.perf_counter()
        try:
            yield
        except _NOT_AN_OPERATION:
            self._refused = True
            raise
        except Exception as error:
            # Raised out of a hook (the cost limit, a refused request): strawberry codes it after this.
            code = error_code(error) or ("BAD_USER_INPUT" if not self._valid else INTERNAL_SERVER_ERROR)
            OPERATION_ERRORS.labels(self._name(), self._operation_type(), code_label(code)).inc()
            raise
        else:
            if not self._streamed:
                # graphql-core's result after execution, strawberry's after a request error.
                errors = getattr(self.execution_context.result, "errors", None)
                count_errors(self._name(), self._operation_type(), errors or self.execution_context.pre_execution_errors or [])
        finally:
            handoff = accepted_handoff()
            if handoff is not None and not self._refused:
                # A WebSocket handler took the subscription over (resolvers/update_handoff.py): it is
                # still open, and its errors and its end are counted when they happen.
                tail = _OperationTail(self._name(), self._operation_type(), started, open_subscription=self._open_subscription)
                handoff.finishers.append(tail.end)
                handoff.count_errors = tail.count_errors
            else:
                if self._open_subscription:
                    OPEN_SUBSCRIPTIONS.dec()
                if not self._refused:
                    OPERATION_SECONDS.labels(self._name(), self._operation_type()).observe(time.perf_counter() - started)

    def on_stream_result(self, result: ExecutionResult) -> Iterator[None]:  # type: ignore[override]
        """A WebSocket operation's result: count its errors as it goes out."""
        self._streamed = True
        if result.errors:
            count_errors(self._name(), self._operation_type(), result.errors)
        yield

    def _name(self) -> str:
        return self._names.label(self.execution_context.operation_name, valid=self._valid)

    def _operation_type(self) -> str:
        try:
            return self.execution_context.operation_type.value
        except RuntimeError:
            return UNKNOWN_TYPE


class _OperationTail:
    """What OperationMetrics still records for an operation a WebSocket handler has taken over."""

    __slots__ = ("kind", "name", "open_subscription", "started")

    def __init__(self, name: str, kind: str, started: float, *, open_subscription: bool) -> None:
        self.name = name
        self.kind = kind
        self.started = started
        self.open_subscription = open_subscription

    def count_errors(self, errors: Iterable[GraphQLError]) -> None:
        """A later result's errors, as on_stream_result counts them."""
        count_errors(self.name, self.kind, errors)

    def end(self) -> None:
        """The operation has ended: as on_operation's end."""
        if self.open_subscription:
            OPEN_SUBSCRIPTIONS.dec()
        OPERATION_SECONDS.labels(self.name, self.kind).observe(time.perf_counter() - self.started)
