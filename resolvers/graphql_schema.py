"""The executable schema: the three roots, the document limits, the request caches and error codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from resolvers.argument_names import RememberedArgumentNames
from resolvers.compiled_objects import CompiledExecutionContext
from resolvers.compiled_operations import CompiledOperations, OperationChecks
from resolvers.compiled_subscriptions import CompiledSubscriptions
from resolvers.document_cache import DocumentCache
from resolvers.document_limits import ALIASES, DEPTH, DocumentLimits
from resolvers.document_parsing import GuardedParserCache
from resolvers.document_validation import GuardedValidationCache, coded, mutation_limit_rule
from resolvers.leaf_fields import LeafFieldExecutionContext
from resolvers.mutations import Mutation
from resolvers.operation_budget import OperationBudget
from resolvers.operation_metrics import OperationMetrics, OperationNames
from resolvers.operation_scope import OperationScope
from resolvers.queries import Query
from resolvers.subscriptions import Subscription
from schema.errors import assign_codes
from schema.scalars import SCALAR_MAP


class OrderlySchema(strawberry.Schema):
    """Gives every error its contract code before any transport formats it; runs compiled operations."""

    compiled_operations: CompiledOperations | None = None
    compiled_subscriptions: CompiledSubscriptions | None = None
    compile_subscriptions = True  # tests turn it off to compare the two roads

    async def subscribe(  # noqa: PLR0913, PLR0917 - strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> Any:
        """An orderProjected on the compiled road (resolvers/compiled_subscriptions.py), else strawberry's."""
        compiled = self._compiled_stream(query, variable_values, context_value, root_value, operation_name, operation_extensions)
        if compiled is not None:
            return compiled
        return await super().subscribe(query, variable_values, context_value, root_value, operation_name, operation_extensions)

    async def stream(  # noqa: PLR0913, PLR0917 - strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Any = None,
    ) -> Any:
        """As subscribe, for graphql-transport-ws (which streams any operation type)."""
        allowed = allowed_operation_types is None or OperationType.SUBSCRIPTION in allowed_operation_types
        compiled = (
            self._compiled_stream(query, variable_values, context_value, root_value, operation_name, operation_extensions)
            if allowed
            else None
        )
        if compiled is not None:
            return compiled
        return await super().stream(
            query, variable_values, context_value, root_value, operation_name, operation_extensions, allowed_operation_types
        )

    def _compiled_stream(  # noqa: PLR0913, PLR0917
        self,
        query: str | None,
        variables: Any,
        context: Any,
        root_value: Any,
        operation_name: str | None,
        operation_extensions: dict[str, Any] | None,
    ) -> Any:
        if self.compiled_subscriptions is None or not self.compile_subscriptions or operation_extensions:
            return None
        return self.compiled_subscriptions.stream(query, variables, context, root_value, operation_name)

    async def execute_compiled(
        self,
        query: str,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
        extensions: dict[str, Any] | None,
    ) -> ExecutionResult | None:
        """A query's result on the compiled road (resolvers/compiled_operations.py), or None when it
        must take `execute` (nothing has run then)."""
        if self.compiled_operations is None:
            return None
        return await self.compiled_operations.execute(query, variables, context, operation_name, extensions)

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Assign codes; unexpected errors are logged with their traceback and masked."""
        assign_codes(errors)


def build_schema(
    *,
    introspection: bool = True,
    limits: DocumentLimits | None = None,
    metrics: OperationNames | None = None,
    log_scope: bool = True,
    compiled: bool = True,
    **overrides: Any,
) -> OrderlySchema:
    """The Orders API schema with its document limits and a parse and validation cache of its own;
    with `metrics` (the operation names to label with), each operation is timed and its errors
    counted (resolvers/operation_metrics.py); with `log_scope`, each operation opens its log
    scope and, with tracing on, its span (resolvers/operation_scope.py). With `compiled` (the
    default), objects are completed by renderers compiled per document (resolvers/compiled_objects.py);
    without, by graphql-core field by field (the differential tests compare the two)."""
    limits = limits or DocumentLimits()
    cache = DocumentCache(max_entry_bytes=limits.max_cached_document_bytes, max_total_bytes=limits.document_cache_bytes)
    extensions = limit_extensions(limits, cache, introspection=introspection)
    if log_scope:
        # First: the log scope (and span) cover the whole operation. Each extension costs
        # strawberry's hook plumbing on every operation (a few per cent of an order read), so the
        # app asks for this one only when something reads the scope: JSON logs or a tracer.
        extensions = [OperationScope, *extensions]
    if metrics is not None:
        names = metrics
        extensions = [lambda: OperationMetrics(names), *extensions]
    schema = OrderlySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        # The default resolver stays getattr: the compiled renderers and the leaf-field path read attributes themselves.
        config=StrawberryConfig(scalar_map=SCALAR_MAP, name_converter=RememberedArgumentNames()),
        execution_context_class=CompiledExecutionContext if compiled else LeafFieldExecutionContext,
        **overrides,
    )
    if compiled and not overrides:  # an override could change what the extensions do
        checks = OperationChecks(
            max_cost=limits.max_cost,
            max_concurrent_reads=limits.max_concurrent_reads,
            max_response_bytes=limits.max_response_bytes,
            metrics=metrics,
            log_scope=log_scope,
        )
        schema.compiled_operations = CompiledOperations(schema._schema, cache, checks, CompiledExecutionContext)  # noqa: SLF001
        schema.compiled_subscriptions = CompiledSubscriptions(schema, schema.compiled_operations)
    return schema


def limit_extensions(limits: DocumentLimits, cache: DocumentCache, *, introspection: bool) -> list[Callable[[], SchemaExtension]]:
    """Factories (a fresh extension per request) in the order their hooks run.

    The validation rules are built once, here: the validation cache keys on them, and
    strawberry's limiters make a new rule class per instance.
    """
    rules: list[type[ASTValidationRule]] = [
        *(coded(rule, DEPTH) for rule in QueryDepthLimiter(max_depth=limits.max_depth).validation_rules),
        *(coded(rule, ALIASES) for rule in MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules),
        mutation_limit_rule(limits.max_mutations),
    ]
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
        lambda: GuardedParserCache(cache, max_document_bytes=limits.max_document_bytes),
        lambda: GuardedValidationCache(cache, max_selections=limits.max_selections, max_repeats=limits.max_repeats),
        lambda: OperationBudget(
            max_cost=limits.max_cost,
            max_concurrent_reads=limits.max_concurrent_reads,
            max_response_bytes=limits.max_response_bytes,
        ),
    ]
    if not introspection:
        # A validation rule, so it holds for every transport (POST, GET, both WebSocket
        # protocols); the validation cache keys on the rules, so it cannot leak a result.
        extensions.append(DisableIntrospection)
    return extensions
