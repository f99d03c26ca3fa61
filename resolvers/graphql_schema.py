"""The executable schema: the three roots, the request caches and error codes."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from resolvers.document_parsing import GuardedParserCache
from resolvers.leaf_fields import LeafFieldExecutionContext
from resolvers.mutations import Mutation
from resolvers.queries import Query
from resolvers.subscriptions import Subscription
from schema.errors import assign_codes
from schema.scalars import SCALAR_MAP


class OrderlySchema(strawberry.Schema):
    """Gives every error its contract code before any transport formats it."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Assign codes; unexpected errors are logged with their traceback and masked."""
        assign_codes(errors)


def build_schema(*, introspection: bool = True, **overrides: Any) -> OrderlySchema:
    """The Orders API schema with strawberry's parser and validation caches on."""
    # Factories: each request gets fresh extension objects over module-level LRU caches.
    extensions: list[Any] = [lambda: GuardedParserCache(maxsize=1024), lambda: ValidationCache(maxsize=1024)]
    if not introspection:
        # A validation rule, so it holds for every transport (POST, GET, both WebSocket
        # protocols); the validation cache keys on the rules, so it cannot leak a result.
        extensions.append(DisableIntrospection)
    return OrderlySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        # The default resolver stays getattr: LeafFieldExecutionContext reads attributes itself.
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=LeafFieldExecutionContext,
        **overrides,
    )
