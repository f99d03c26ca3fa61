"""The validation step: the document's shape checked first, then validation through the bounded
cache; and the document limits as validation rules that answer LIMIT_EXCEEDED.

Before any rule runs, a document over ORDERLY_LIMIT_SELECTIONS or ORDERLY_LIMIT_REPEATS
(resolvers/document_shape.py) is refused unvalidated: graphql-core's pairwise field comparisons
and strawberry's limiters, which walk every fragment spread again at each use, then only ever
see documents known to be small. strawberry's QueryDepthLimiter and MaxAliasesLimiter report
plain GraphQL errors; `coded` makes their refusals LIMIT_EXCEEDED with the limit's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)
from graphql.validation import ASTValidationContext, ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from resolvers.document_cache import DocumentCache
from resolvers.document_limits import MUTATIONS, REPEATS, SELECTIONS, limit_error
from resolvers.document_shape import count_repeats, count_selections
from schema.errors import LimitExceededError


class GuardedValidationCache(SchemaExtension):
    """Refuses a document with too many selections, else validates it once per text and rules."""

    def __init__(self, cache: DocumentCache, *, max_selections: int, max_repeats: int) -> None:
        self.cache = cache
        self.max_selections = max_selections
        self.max_repeats = max_repeats

    def on_validate(self) -> Iterator[None]:
        """Validate (or reuse the result) unless the request was refused already."""
        execution_context = self.execution_context
        document = execution_context.graphql_document
        if execution_context.pre_execution_errors is not None or document is None:
            yield
            return
        rules = execution_context.validation_rules
        entry = self.cache.get(execution_context.query or "")
        if entry is not None and entry.document is not document:
            entry = None
        errors = None if entry is None else entry.validations.get(rules)
        if errors is None:
            errors = self._refusal(document) or validate_document(execution_context.schema._schema, document, rules)  # noqa: SLF001
            if entry is not None:
                entry.validations[rules] = errors
        execution_context.pre_execution_errors = list(errors)
        yield

    def _refusal(self, document: DocumentNode) -> list[GraphQLError]:
        selections = count_selections(document)
        if selections > self.max_selections:
            return [
                limit_error(
                    SELECTIONS,
                    (f"The document has {selections} selections (fragments expanded); at most {self.max_selections} are allowed"),
                )
            ]
        # Only now is a walk over the expanded document known to be short.
        repeats = count_repeats(document)
        if repeats > self.max_repeats:
            return [
                limit_error(
                    REPEATS,
                    (
                        f"One selection set repeats a field or spreads fragments {repeats} times (fragments merged in); "
                        f"at most {self.max_repeats} are allowed"
                    ),
                )
            ]
        return []


def coded(rule: type[ASTValidationRule], limit: str) -> type[ASTValidationRule]:
    """The rule, its errors refusals of `limit` (strawberry's limiters report plain GraphQLErrors)."""

    class CodedRule(rule):  # type: ignore[valid-type, misc]
        def __init__(self, context: ASTValidationContext) -> None:
            # strawberry's limiters do all their work, and report, while they are constructed.
            report: Callable[[GraphQLError], None] = context.on_error
            context.on_error = lambda error: report(  # type: ignore[method-assign]
                GraphQLError(error.message, error.nodes, original_error=LimitExceededError(limit, error.message))
            )
            try:
                super().__init__(context)
            finally:
                context.on_error = report  # type: ignore[method-assign, assignment]

    CodedRule.__name__ = CodedRule.__qualname__ = f"Coded{rule.__name__}"
    return CodedRule


def mutation_limit_rule(max_mutations: int) -> type[ValidationRule]:
    """A rule refusing an operation with more than `max_mutations` mutation fields (aliases included)."""

    class MutationLimitRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> None:
            if node.operation != OperationType.MUTATION:
                return
            fragments = {
                fragment.name.value: fragment
                for fragment in self.context.document.definitions
                if isinstance(fragment, FragmentDefinitionNode)
            }
            count = _root_fields(node.selection_set, fragments, frozenset())
            if count > max_mutations:
                message = f"The operation runs {count} mutations; at most {max_mutations} are allowed in one request"
                self.report_error(GraphQLError(message, node, original_error=LimitExceededError(MUTATIONS, message)))

    return MutationLimitRule


def _root_fields(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], visiting: frozenset[str]) -> int:
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += 1
        elif isinstance(selection, InlineFragmentNode):
            total += _root_fields(selection.selection_set, fragments, visiting)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in visiting:
                total += _root_fields(fragment.selection_set, fragments, visiting | {name})
    return total
