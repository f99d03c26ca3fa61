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


# (response name, attribute name, leaf type, nullable) for every field of a selection
LeafPlan = list[tuple[str, str, GraphQLLeafType, bool]]


class LeafFieldExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, reading plain leaf fields inline (see the module docstring)."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        # An object whose selected fields are all plain leaves (an order's items) becomes one
        # loop; on anything unusual the whole object takes the generic path, which reads
        # the same attributes again.
        plan = self._leaf_plan(parent_type, grouped_field_set)
        if plan is not None:
            results: dict[str, Any] = {}
            for response_name, attribute, output, nullable in plan:
                try:
                    value = getattr(source_value, attribute)
                except Exception:
                    break  # a missing attribute or a raising property: the generic path locates it
                if value is None:
                    if not nullable:
                        break
                    results[response_name] = None
                    continue
                if isinstance(value, Exception):
                    break
                try:
                    coerced = output.coerce_output_value(value)
                except Exception:
                    break
                if coerced is None or coerced is Undefined:
                    break
                results[response_name] = coerced
            else:
                return results
        return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)

    def _leaf_plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> LeafPlan | None:
        plans: dict[int, tuple[Any, LeafPlan | None]] = self.__dict__.setdefault("_orderly_leaf_plans", {})
        known = plans.get(id(grouped_field_set))
        if known is not None and known[0] is grouped_field_set:
            return known[1]
        plan: LeafPlan | None = None
        if self.middleware_manager is None or not self.middleware_manager.middlewares:
            plan = []
            for response_name, field_details_list in grouped_field_set.items():
                field = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
                leaf = None if field is None else plain_leaf(field)
                if leaf is None:
                    plan = None
                    break
                assert field is not None
                plan.append((response_name, leaf[0], leaf[1], not is_non_null_type(field.type)))
        # Keep the field set alive with its plan, so its id is not reused while cached.
        plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

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
                try:
                    value = getattr(source, name)
                except Exception:
                    value = None  # the generic path raises it again, located
                if value is not None and not isinstance(value, Exception):
                    try:
                        coerced = output.coerce_output_value(value)
                    except Exception:
                        coerced = None  # let the generic path raise it, located
                    if coerced is not None and coerced is not Undefined:
                        return coerced
        return super().execute_field(parent_type, source, field_details_list, path, position_context)
