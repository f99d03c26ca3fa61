"""The parse step of every request: strawberry's cached parse, with two of its gaps closed.

- strawberry's ParserCache parses when its hook is entered, outside the try that turns a
  GraphQLSyntaxError into a pre-execution error. Over HTTP an outer catch-all hides that; over
  WebSocket (`schema.stream`) the error escapes the operation's task, is logged as a traceback
  and the client gets a bare `complete`. Here a document that does not parse is left unset, so
  strawberry parses it again inside its guard and reports the error.
- strawberry runs the first operation of a document with several when no operationName is
  given (its ExecutionContext falls back to the first name). The GraphQL specification's
  GetOperation requires a name then; here that request is refused before anything runs, as
  strawberry refuses an unknown name (CannotGetOperationTypeError: a request error on every
  transport).

Proven on strawberry-graphql 0.341 (pinned in pyproject.toml); tests/api/test_transport_errors.py
covers both.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import ParserCache
from strawberry.schema.exceptions import CannotGetOperationTypeError


class GuardedParserCache(ParserCache):
    """Caches parsed documents; leaves syntax errors to strawberry; refuses an ambiguous operation."""

    def on_parse(self) -> Iterator[None]:
        """Parse through the shared LRU cache, then check that one operation is chosen."""
        execution_context = self.execution_context
        try:
            document = self.cached_parse_document(execution_context.query, **execution_context.parse_options)
        except GraphQLError:
            yield  # strawberry parses again inside its guard and reports the syntax error
            return
        execution_context.graphql_document = document
        # The name the client sent, before strawberry's fallback to the first operation's.
        provided_name = execution_context._provided_operation_name  # noqa: SLF001
        if provided_name is None:
            operations = sum(isinstance(definition, OperationDefinitionNode) for definition in document.definitions)
            if operations > 1:
                raise CannotGetOperationTypeError(None)
        yield
