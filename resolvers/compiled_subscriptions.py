"""Compiled subscriptions: an orderProjected whose document is known valid skips strawberry's hook plumbing.

In scenario 5 at 1,000 commands/s the subscribing API process is saturated by orderProjected
subscriptions, and most of a subscription's CPU is spent before its wait: strawberry's
`Schema.stream` builds an execution context, an extension object and a hook context per
extension and phase, goes through the parse and validation caches and the result handling
around every result (about 60,000 hook look-ups per 2,000 subscriptions in a profile). For a
document the document cache holds and that passed parsing, the document limits and
validation on strawberry's road without an error (as resolvers/compiled_operations.py trusts
for queries), every one of those checks gives the same answer again. So a subscription
document with one operation whose root fields are all `orderProjected` runs here instead, and
yields the same results strawberry's `_stream` yields:

- the cost with this request's variables (resolvers/operation_cost.py): over the limit, the
  request goes to strawberry's road, which refuses it exactly as always;
- graphql-core's `subscribe` on the cached document, as strawberry calls it (the schema's
  execution context class, the read gate around it, no middleware: none of the extensions
  resolves fields), so variables are coerced and the root field resolved by strawberry's
  resolver with its field extensions: argument checks (ValidInput), roles and per-customer
  authorization (Authorized, visible_orders), the wait and its handoff
  (resolvers/projected_handoff.py), PROJECTION_FAILED and CONSISTENCY_TIMEOUT;
- each result's errors given their contract codes through the schema's `_process_errors`,
  a pre-execution result (variables that do not coerce) as strawberry's PreExecutionError,
  an exception out of the stream as strawberry's error result;
- the operation metrics as OperationMetrics records them (open subscriptions, errors per result,
  the lifetime, or the tail a WebSocket handler records for a handed-over operation) and, when
  the app asks for it, the log scope and span (resolvers/operation_scope.py).

Authentication, the operation limits, the rate limit, persisted queries and duplicate ids are
the WebSocket handler's (orderly/websocket.py), before either road. Everything else (another
root field, several operations in a document, a document the cache does not keep, a cost over
the limit, a schema built with overrides) takes strawberry's road unchanged.
tests/api/test_compiled_subscriptions.py compares the raw frames of the two roads on both protocols,
and the metrics they move. Proven on strawberry-graphql 0.341.2 and graphql-core 3.3.2 (pyproject pins
both). Measured: an orderProjected that finds its order projected cost the API process about 1.1 ms
of CPU on strawberry's road and about 0.65 ms here (2,000 subscriptions over graphql-transport-ws).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing, nullcontext
from typing import Any, cast

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import FieldNode, GraphQLError, OperationType, subscribe
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.utils.await_maybe import await_maybe

from resolvers.compiled_objects import DocumentPlans, use_document
from resolvers.compiled_operations import CompiledOperations, OperationPlan, costed_variables, sole_operation
from resolvers.document_cache import CachedDocument
from resolvers.operation_metrics import (
    OPEN_SUBSCRIPTIONS,
    OPERATION_SECONDS,
    _OperationTail,  # the extension's own tail for a handed-over operation
    count_errors,
)
from resolvers.operation_scope import operation_scope
from resolvers.update_handoff import accepted_handoff
from schema.read_gate import request_reads

COMPILED_ROOT_FIELDS = frozenset({"orderProjected"})
SUBSCRIPTION = OperationType.SUBSCRIPTION.value
Stream = AsyncGenerator[ExecutionResult, None]


class CompiledSubscriptions:
    """Runs the compiled subscription plans of one schema (the compiled queries' cache and checks)."""

    taken = 0  # subscriptions this process ran on the compiled road (tests read it)

    def __init__(self, schema: Any, operations: CompiledOperations) -> None:
        self.schema = schema  # the strawberry schema: its graphql-core schema, error processing, executor class
        self.operations = operations

    def stream(
        self, query: str | None, variables: Any, context: Any, root_value: Any, operation_name: str | None
    ) -> Stream | None:
        """The subscription's results, or None when it must take strawberry's road (nothing has run)."""
        if not isinstance(query, str) or not isinstance(variables, dict | None):
            return None
        entry = self.operations.cache.get(query)
        if entry is None:
            return None
        plan = subscription_plan(entry, operation_name)
        if plan is None:
            return None
        if self.operations._cost(plan, variables) > self.operations.checks.max_cost:  # noqa: SLF001 - the same cost cache
            return None  # strawberry's road refuses it, with its error and metrics
        CompiledSubscriptions.taken += 1
        return self._run(entry, plan, variables, context, root_value, operation_name)

    async def _run(  # noqa: PLR0913 - what strawberry's subscribe is given
        self,
        entry: CachedDocument,
        plan: OperationPlan,
        variables: dict[str, Any] | None,
        context: Any,
        root_value: Any,
        operation_name: str | None,
    ) -> Stream:
        checks = self.operations.checks
        label = None if checks.metrics is None else checks.metrics.label(plan.operation_name, valid=True)
        started = time.perf_counter()
        if label is not None:
            OPEN_SUBSCRIPTIONS.inc()  # OperationMetrics.on_validate: a valid subscription is open
        scope = operation_scope(plan.operation_name, SUBSCRIPTION, context) if checks.log_scope else nullcontext()
        try:
            with scope:
                use_document(entry)
                try:
                    with request_reads(checks.max_concurrent_reads):
                        source = await await_maybe(
                            subscribe(
                                self.schema._schema,  # noqa: SLF001
                                plan.document,
                                root_value=root_value,
                                context_value=context,
                                variable_values=variables,
                                operation_name=operation_name,
                                executor_class=self.schema.execution_context_class,
                            )
                        )
                except Exception as error:  # noqa: BLE001 - strawberry's road makes it the result
                    yield self._result(label, None, [_coerced(error)])
                    return
                if isinstance(source, GraphQLExecutionResult):
                    assert source.errors
                    self._process(label, source.errors)
                    yield PreExecutionError(data=None, errors=source.errors)
                    return
                events = cast(AsyncGenerator[GraphQLExecutionResult, None], source)  # graphql-core's mapped stream
                try:
                    async with aclosing(events):
                        async for result in events:
                            yield self._result(label, result.data, result.errors)
                except Exception as error:  # noqa: BLE001 - graphql-core does not handle it: strawberry's road sends it
                    yield self._result(label, None, [_coerced(error)])
        finally:
            self._end(label, started)

    def _result(self, label: str | None, data: Any, errors: list[GraphQLError] | None) -> ExecutionResult:
        if errors:
            self._process(label, errors)
        return ExecutionResult(data=data, errors=errors)

    def _process(self, label: str | None, errors: list[GraphQLError]) -> None:
        self.schema._process_errors(errors)  # noqa: SLF001 - strawberry's: codes (OrderlySchema.process_errors)
        if label is not None:
            count_errors(label, SUBSCRIPTION, errors)  # OperationMetrics.on_stream_result

    @staticmethod
    def _end(label: str | None, started: float) -> None:
        # OperationMetrics.on_operation's end: a handed-over subscription is still open, and the
        # handler records its errors and its end when they happen.
        if label is None:
            return
        handoff = accepted_handoff()
        if handoff is not None:
            tail = _OperationTail(label, SUBSCRIPTION, started, open_subscription=True)
            handoff.finishers.append(tail.end)
            handoff.count_errors = tail.count_errors
            return
        OPEN_SUBSCRIPTIONS.dec()
        OPERATION_SECONDS.labels(label, SUBSCRIPTION).observe(time.perf_counter() - started)


def _coerced(error: Exception) -> GraphQLError:
    return error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)


# Beside the query plans in DocumentPlans.operations (keyed by operation name), under a key no name can be.
def subscription_plan(entry: CachedDocument, operation_name: str | None) -> OperationPlan | None:
    """The entry's subscription plan for this operation name, compiled on first use; None when it has none."""
    plans = entry.plans
    if not isinstance(plans, DocumentPlans):
        plans = entry.plans = DocumentPlans(entry.document)
    key: Any = (SUBSCRIPTION, operation_name)
    known = plans.operations.get(key, False)
    if known is False:
        known = plans.operations[key] = _compile(entry, operation_name)
    return known


def _compile(entry: CachedDocument, operation_name: str | None) -> OperationPlan | None:
    operation = sole_operation(entry, operation_name, OperationType.SUBSCRIPTION)
    if operation is None:
        return None
    selections = operation.selection_set.selections
    if not selections or not all(
        isinstance(selection, FieldNode) and selection.name.value in COMPILED_ROOT_FIELDS for selection in selections
    ):
        return None
    return OperationPlan(
        document=entry.document,
        operation_name=None if operation.name is None else operation.name.value,
        costed_variables=costed_variables(entry.document),
    )
