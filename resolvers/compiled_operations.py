"""Compiled operations: a read whose document is known valid runs without strawberry's hook plumbing.

strawberry's `Schema.execute` spends most of an order read, once the objects are rendered by
compiled renderers (resolvers/compiled_objects.py), on its own machinery: an extension object
and a hook context per extension and phase, per request. For a document the document cache
holds and that passed parsing, the document limits and validation on strawberry's road (with
no error under this schema's rules, which do not change per request), every one of those
checks would give the same answer again. So a query reading the read models (`order`,
`customerOrders`, `searchOrders`, `customer`) is compiled into a plan on its next request, and
each request of that plan then:

- re-runs the checks that depend on the request, by calling the functions the extensions
  call: the cost with this request's variables (resolvers/operation_cost.py: a request over
  the limit goes to strawberry's road, which refuses it exactly as always), the read gate
  (schema/read_gate.py), the response size (resolvers/operation_budget.py);
- runs graphql-core's `execute` as strawberry does (same execution context class, is_awaitable
  and operation extensions), so variables are coerced and the root fields resolved by
  strawberry's resolvers with their field extensions: argument checks (ValidInput), roles and
  per-customer authorization (Authorized, visible_orders, named_customer, customer_filter),
  minVersion/minPosition waits and PROJECTION_FAILED; errors keep their paths and locations;
- gives errors their contract codes, masking and logging the unexpected (schema/errors.py);
- records the operation metrics (resolvers/operation_metrics.py: the same names, labels and
  counters) and, when the app asks for it, the log scope and span (resolvers/operation_scope.py).

Authentication is the view's: it builds the context (and its principal) before either road.
The order mutations have a compiled road of their own (resolvers/compiled_mutations.py), asked
here for a cached document without a read plan. Everything else (other mutations, subscriptions,
introspection, other root fields, several operations in one document, a document the cache does
not keep, a cost over the limit) takes strawberry's road unchanged. tests/compiled compares the
two roads' answers on generated operations.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Visitor,
    execute,
    visit,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.language import ArgumentNode
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.types import ExecutionResult

from resolvers.compiled_mutations import CompiledMutations
from resolvers.compiled_objects import DocumentPlans, Renderer, known_renderer, use_document, variables_in
from resolvers.direct_reads import DirectRead, NotDirect, direct_read
from resolvers.document_cache import CachedDocument, DocumentCache
from resolvers.operation_budget import refuse_oversized
from resolvers.operation_cost import FIELD_COSTS, operation_cost
from resolvers.operation_metrics import (
    INTERNAL_SERVER_ERROR,
    OPERATION_ERRORS,
    OPERATION_SECONDS,
    OperationNames,
    code_label,
    count_errors,
)
from resolvers.operation_scope import operation_scope
from schema.errors import assign_codes, error_code
from schema.read_gate import request_reads

# Query fields over the read models. Others (orderEvents, projections, parkedStreams,
# introspection) stay on strawberry's road.
COMPILED_ROOT_FIELDS = frozenset({"order", "customerOrders", "searchOrders", "customer", "__typename"})
MAX_COSTS_PER_PLAN = 256  # cost results kept per plan, by the request's variables
QUERY = OperationType.QUERY.value
_MISSING = object()
# The arguments whose values operation_cost reads (page sizes, waits); the others leave it unchanged.
COSTED_ARGUMENTS = frozenset(
    {"pageSize"} | {name for spec in FIELD_COSTS.values() for name in (spec.wait, spec.waits_only_with) if name is not None}
)


@dataclass(frozen=True, kw_only=True)
class OperationChecks:
    """What the schema's extensions check per request, with this schema's settings."""

    max_cost: int
    max_concurrent_reads: int
    max_response_bytes: int
    metrics: OperationNames | None
    log_scope: bool


@dataclass
class CompiledResult(ExecutionResult):
    """A compiled road's result, with its data as JSON when it has been encoded (to check its size)."""

    encoded_data: bytes | None = None


def _encoded(data: dict[str, Any] | None) -> bytes | None:
    if data is None:
        return None
    try:
        return orjson.dumps(data)
    except (TypeError, orjson.JSONEncodeError):
        return None  # refuse_oversized and the transport's encoder decide


@dataclass
class OperationPlan:
    """One operation of a cached, valid document: its name for metrics and logs, and its costs."""

    document: DocumentNode
    operation_name: str | None  # as strawberry names it: the given name, else the operation's own
    costed_variables: tuple[str, ...] = ()  # the variables the cost reads (COSTED_ARGUMENTS' values)
    direct: DirectRead | None = None  # one root read field (resolvers/direct_reads.py)
    costs: dict[tuple[Any, ...], int] = field(default_factory=dict)
    # The operation's metrics label and its duration histogram: a name admitted as a label
    # stays one, and one refused (OTHER) stays refused, so the first answer holds.
    timer: tuple[str, Any] | None = None


class CompiledOperations:
    """Runs the compiled plans of one schema (its document cache and its checks)."""

    taken = 0  # operations this process answered on the compiled road (tests read it)
    direct = 0  # of which answered by a direct read (resolvers/direct_reads.py)

    def __init__(
        self, schema: GraphQLSchema, cache: DocumentCache, checks: OperationChecks, execution_context_class: type
    ) -> None:
        self.schema = schema
        self.cache = cache
        self.checks = checks
        self.execution_context_class = execution_context_class
        self.mutations = CompiledMutations(schema, checks)  # the order mutations' road

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
        extensions: dict[str, Any] | None,
    ) -> ExecutionResult | None:
        """The result, or None when this request must take strawberry's road (nothing has run)."""
        if not isinstance(variables, dict | None):
            return None  # strawberry's road says what is wrong with them
        entry = self.cache.get(query)
        if entry is None:
            return None
        plan = plan_for(entry, operation_name, self.schema)
        if plan is None:
            return await self.mutations.execute(entry, variables, context, operation_name)
        checks = self.checks
        if self._cost(plan, variables) > checks.max_cost:
            return None  # strawberry's road refuses it, with its error and metrics
        CompiledOperations.taken += 1
        use_document(entry)
        renderer = None
        if plan.direct is not None:
            assert isinstance(entry.plans, DocumentPlans)
            renderer = known_renderer(entry.plans, plan.direct.renderer_key)
        if not checks.log_scope:
            return await self._run(plan, variables, context, operation_name, extensions, renderer)
        with operation_scope(plan.operation_name, QUERY, context):
            return await self._run(plan, variables, context, operation_name, extensions, renderer)

    async def _run(
        self,
        plan: OperationPlan,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
        extensions: dict[str, Any] | None,
        renderer: Renderer | None,
    ) -> ExecutionResult:
        checks = self.checks
        started = time.perf_counter()
        timer = plan.timer
        if timer is None and checks.metrics is not None:
            name = checks.metrics.label(plan.operation_name, valid=True)
            timer = plan.timer = (name, OPERATION_SECONDS.labels(name, QUERY))
        label = None if timer is None else timer[0]
        try:
            with request_reads(checks.max_concurrent_reads):
                direct = None if renderer is None else await self._direct(plan, renderer, context, variables)
                result = (
                    direct
                    if direct is not None
                    else execute(
                        self.schema,
                        plan.document,
                        root_value=None,
                        context_value=context,
                        variable_values=variables,
                        operation_name=operation_name,
                        executor_class=self.execution_context_class,
                        is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                        operation_extensions=extensions,
                    )
                )
                if isawaitable(result):
                    result = await result
        except Exception as error:
            # strawberry's road turns an exception out of execution into the request's error.
            if label is not None:
                OPERATION_ERRORS.labels(label, QUERY, code_label(error_code(error) or INTERNAL_SERVER_ERROR)).inc()
                OPERATION_SECONDS.labels(label, QUERY).observe(time.perf_counter() - started)
            errors = [error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)]
            assign_codes(errors)
            return ExecutionResult(data=None, errors=errors)
        assert isinstance(result, GraphQLExecutionResult)
        if result.errors:
            assign_codes(result.errors)
        encoded = _encoded(result.data)
        if encoded is None or len(encoded) > checks.max_response_bytes:
            refuse_oversized(result, checks.max_response_bytes)
            encoded = None
        if timer is not None:
            count_errors(timer[0], QUERY, result.errors or [])
            timer[1].observe(time.perf_counter() - started)
        return CompiledResult(data=result.data, errors=result.errors, encoded_data=encoded)

    async def _direct(
        self, plan: OperationPlan, renderer: Renderer, context: Any, variables: dict[str, Any] | None
    ) -> GraphQLExecutionResult | None:
        """The plan's direct read (resolvers/direct_reads.py), or None when the compiled road must answer."""
        if plan.direct is None:
            return None
        try:
            data, errors = await plan.direct.run(self.schema, renderer, context, variables, optimized_is_awaitable)
        except NotDirect:
            return None
        CompiledOperations.direct += 1
        return GraphQLExecutionResult(data, errors)

    def _cost(self, plan: OperationPlan, variables: Mapping[str, Any] | None) -> int:
        # operation_cost is a function of the document, the name and the variables: kept per
        # plan by the variables when they are hashable (page sizes, waits, ids).
        # The type too: True and 1 are equal keys, but the cost reads only an int as a page size.
        # Only the variables the cost reads make the key: an order id changes with every request.
        given = variables or {}
        key: tuple[Any, ...] | None = tuple(
            (name, type(value), value) for name in plan.costed_variables for value in (given.get(name, _MISSING),)
        )
        try:
            known = plan.costs.get(key)  # type: ignore[arg-type]
        except TypeError:  # a list or an input object among the variables
            known, key = None, None
        if known is not None:
            return known
        cost = operation_cost(self.schema, plan.document, plan.operation_name, variables)
        if key is not None and len(plan.costs) < MAX_COSTS_PER_PLAN:
            plan.costs[key] = cost
        return cost


def plan_for(entry: CachedDocument, operation_name: str | None, schema: GraphQLSchema) -> OperationPlan | None:
    """The entry's plan for this operation name, compiled on first use; None when it has none."""
    plans = entry.plans
    if not isinstance(plans, DocumentPlans):
        plans = entry.plans = DocumentPlans(entry.document)
    known = plans.operations.get(operation_name, False)
    if known is False:
        known = plans.operations[operation_name] = _compile(entry, operation_name, schema)
    return known


def sole_operation(entry: CachedDocument, operation_name: str | None, kind: OperationType) -> OperationDefinitionNode | None:
    """The document's one operation, when it is of this kind, answers to this name and passed validation without an error."""
    # Validated on strawberry's road, without an error, under this schema's rules (the cache
    # belongs to one schema, whose rules are fixed when it is built).
    if not entry.validations or any(entry.validations.values()):
        return None
    operations = [definition for definition in entry.document.definitions if isinstance(definition, OperationDefinitionNode)]
    if len(operations) != 1:
        return None
    operation = operations[0]
    own_name = None if operation.name is None else operation.name.value
    if operation.operation != kind or (operation_name is not None and operation_name != own_name):
        return None
    return operation


def _compile(entry: CachedDocument, operation_name: str | None, schema: GraphQLSchema) -> OperationPlan | None:
    operation = sole_operation(entry, operation_name, OperationType.QUERY)
    if operation is None:
        return None
    document = entry.document
    fragments = {
        definition.name.value: definition for definition in document.definitions if isinstance(definition, FragmentDefinitionNode)
    }
    if not _root_fields(operation.selection_set, fragments, set()) <= COMPILED_ROOT_FIELDS:
        return None
    plans = entry.plans
    # A direct read finds its renderer by the selection's nodes alone: none with directive variables.
    direct = None
    if isinstance(plans, DocumentPlans) and not plans.directive_variables:
        direct = direct_read(schema, document, operation)
    return OperationPlan(
        document=document,
        operation_name=None if operation.name is None else operation.name.value,
        costed_variables=costed_variables(document),
        direct=direct,
    )


def costed_variables(document: DocumentNode) -> tuple[str, ...]:
    """The variables in the values of COSTED_ARGUMENTS anywhere in the document."""
    names: dict[str, None] = {}

    class Collect(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            if node.name.value in COSTED_ARGUMENTS:
                names.update(dict.fromkeys(variables_in(node.value)))

    visit(document, Collect())
    return tuple(names)


def _root_fields(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]) -> set[str]:
    names: set[str] = set()
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            names |= _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                names |= _root_fields(fragment.selection_set, fragments, seen)
    return names
