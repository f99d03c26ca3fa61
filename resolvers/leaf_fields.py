"""A shorter road for plain leaf fields: strawberry's executor with attribute reads done inline.

graphql-core executes every field alike: it builds a resolve-info object, calls the
resolver (strawberry's wrapper around getattr), checks for an awaitable, then walks the
type (non-null, list, leaf) to complete the value. An order carries about fifty such
fields, most of them inside `items`, and that walk was more than half of the CPU of
`order(orderId)`.

For a field strawberry resolves by reading an attribute (no resolver, no field extension)
whose type is a scalar or an enum, this executor reads the attribute and coerces it
directly. Whenever that would not give the very result the generic path gives (the value
is null, an exception, fails to coerce, or a middleware is installed) it hands the field to
graphql-core's own execute_field, so errors, null propagation and paths are unchanged.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLField, GraphQLLeafType, GraphQLObjectType, Undefined, is_leaf_type, is_non_null_type
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

# (the GraphQLField itself, so an id is never reused, and its attribute name and leaf type, or None)
_LEAVES: dict[int, tuple[GraphQLField, tuple[str, GraphQLLeafType] | None]] = {}


def plain_leaf(field: GraphQLField) -> tuple[str, GraphQLLeafType] | None:
    """(attribute name, leaf type) when the field is a plain attribute read of a scalar or enum."""
    known = _LEAVES.get(id(field))
    if known is not None and known[0] is field:
        return known[1]
    answer: tuple[str, GraphQLLeafType] | None = None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    output = field.type.of_type if is_non_null_type(field.type) else field.type
    if (
        getattr(field.resolve, "_is_default", False)
        and definition is not None
        and definition.is_basic_field
        and not field.args
        and is_leaf_type(output)
    ):
        answer = (definition.python_name, output)
    _LEAVES[id(field)] = (field, answer)
    return answer


class LeafFieldExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, reading plain leaf fields inline (see the module docstring)."""

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        if self.middleware_manager is None or not self.middleware_manager.middlewares:
            field = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            leaf = None if field is None else plain_leaf(field)
            if leaf is not None:
                name, output = leaf
                value = getattr(source, name, None)
                if value is not None and not isinstance(value, Exception):
                    try:
                        coerced = output.coerce_output_value(value)
                    except Exception:
                        coerced = None  # let the generic path raise it, located
                    if coerced is not None and coerced is not Undefined:
                        return coerced
        return super().execute_field(parent_type, source, field_details_list, path, position_context)
