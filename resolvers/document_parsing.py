"""The parse step of every request: size and token limits first, a bounded cache, two gaps closed.

- A document over ORDERLY_LIMIT_DOCUMENT_BYTES is refused before the parser sees it, and the
  parser stops at the first token over ORDERLY_LIMIT_TOKENS (strawberry's MaxTokensLimiter
  sets graphql-core's `max_tokens`): a 10 MB string or a 100,000-item inline list is refused
  in microseconds instead of being parsed for seconds.
- A refusal must reach the client as a request error on every transport. An exception raised
  in an extension hook escapes `schema.stream` (WebSocket): it is logged as a traceback and
  the client gets a bare `complete`. So a refused document is replaced by an empty operation
  of an allowed type under the client's operation name, with the refusal as the request's
  pre-execution error: strawberry then skips validation and answers with that error.
- strawberry's ParserCache parses when its hook is entered, outside the try that turns a
  GraphQLSyntaxError into a pre-execution error. Here a document that does not parse is left
  unset, so strawberry parses it again inside its guard and reports the error.
- strawberry runs the first operation of a document with several when no operationName is
  given (its ExecutionContext falls back to the first name). The GraphQL specification's
  GetOperation requires a name then; here that request is refused before anything runs, as
  strawberry refuses an unknown name (CannotGetOperationTypeError: a request error on every
  transport).

Proven on strawberry-graphql 0.341 and graphql-core 3.3 (pinned in pyproject.toml);
tests/api/test_transport_errors.py and tests/api/test_operation_limits.py cover them.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from graphql import (
    OperationType as GraphQLOperationType,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from resolvers.compiled_objects import use_document
from resolvers.document_cache import DocumentCache
from resolvers.document_limits import DOCUMENT_BYTES, TOKENS, limit_error, text_bytes

_TOKEN_ABORT = "tokens. Parsing aborted."  # graphql-core's message when max_tokens is reached


class GuardedParserCache(SchemaExtension):
    """Refuses oversized documents, parses through the bounded cache, refuses an ambiguous operation."""

    def __init__(self, cache: DocumentCache, *, max_document_bytes: int) -> None:
        self.cache = cache
        self.max_document_bytes = max_document_bytes

    def on_parse(self) -> Iterator[None]:
        """Check the size, parse (or reuse) the document, then check that one operation is chosen."""
        execution_context = self.execution_context
        use_document(None)
        query = execution_context.query or ""
        size = text_bytes(query)
        if size > self.max_document_bytes:
            refuse(
                execution_context,
                limit_error(DOCUMENT_BYTES, f"The document is {size} bytes; at most {self.max_document_bytes} are allowed"),
            )
            yield
            return
        entry = self.cache.get(query)
        use_document(entry)
        if entry is not None:
            document = entry.document
        else:
            try:
                document = parse(query, **execution_context.parse_options)
            except GraphQLError as error:
                if isinstance(error, GraphQLSyntaxError) and error.message.endswith(_TOKEN_ABORT):
                    limit = execution_context.parse_options.get("max_tokens")
                    refuse(execution_context, limit_error(TOKENS, f"The document has more than {limit} tokens"))
                yield  # otherwise strawberry parses again inside its guard and reports the syntax error
                return
            use_document(self.cache.put(query, document, size))
        execution_context.graphql_document = document
        # The name the client sent, before strawberry's fallback to the first operation's.
        provided_name = execution_context._provided_operation_name  # noqa: SLF001
        if provided_name is None:
            operations = sum(isinstance(definition, OperationDefinitionNode) for definition in document.definitions)
            if operations > 1:
                raise CannotGetOperationTypeError(None)
        yield


def refuse(execution_context: ExecutionContext, error: GraphQLError) -> None:
    """Answer the request with this error instead of parsing, validating or executing it."""
    allowed = list(execution_context.allowed_operations)
    operation = OperationType.QUERY if OperationType.QUERY in allowed else allowed[0]
    provided_name = execution_context._provided_operation_name  # noqa: SLF001
    execution_context.graphql_document = DocumentNode(
        definitions=(
            OperationDefinitionNode(
                operation=GraphQLOperationType(operation.value),
                name=None if provided_name is None else NameNode(value=provided_name),
                variable_definitions=(),
                directives=(),
                selection_set=SelectionSetNode(selections=()),
            ),
        )
    )
    execution_context.pre_execution_errors = [error]
