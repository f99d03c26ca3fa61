"""Direct reads: an operation of one root read field runs without building graphql-core's executor.

For `query ($id: ID!) { order(orderId: $id) { ...a compiled selection } }` graphql-core builds
an executor (operation lookup, fragment table, variable coercion, error collector, async
helpers), collects the root fields, runs the incremental-delivery machinery and completes one
field; with the object rendered by a compiled renderer (resolvers/compiled_objects.py) that
scaffolding is most of what is left of the operation's CPU. A direct read does the same steps
for the one root field itself, with graphql-core's own functions:

- the variables are coerced by `get_variable_values` (the function the executor calls); when
  they fail, nothing has run and the request takes the compiled road, which reports the errors;
- the arguments by `get_argument_values`, and the field's own resolver (strawberry's, with its
  field extensions: ValidInput, Authorized, per-customer authorization, waits, the read gate)
  is called with a resolve-info built as the executor builds it;
- an error out of the resolver is located on the field as the executor locates it (null for a
  nullable field, no data for a non-null one);
- the object is completed by the renderer the compiled road has compiled for the same
  selection. A direct read runs only once that renderer exists; when it gives up (a value it
  cannot coerce) or a non-null field resolves to null, the read is answered by the compiled
  road instead: the resolver runs a second time (a read, without side effects), and the errors
  and paths are graphql-core's.

The asynchronous-work helpers of the resolve info (`gather`, `track`) serve resolvers that
start background work; the read resolvers start none, so they get plain ones here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    IntValueNode,
    NamedTypeNode,
    NonNullTypeNode,
    NullValueNode,
    OperationDefinitionNode,
    StringValueNode,
    VariableNode,
    is_required_argument,
    located_error,
)
from graphql.execution.get_variable_signature import GraphQLVariableSignature, get_variable_signature
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    coerce_argument,
    get_argument_values,
    get_variable_values,
    maybe_use_default_value,
)
from graphql.pyutils import Path
from graphql.type.definition import GraphQLResolveInfoHelpers

from resolvers.compiled_objects import Renderer, renderer_key
from resolvers.root_resolvers import root_resolver

# Root fields over the read models whose resolvers start no background work.
DIRECT_ROOT_FIELDS = frozenset({"order", "customerOrders", "searchOrders", "customer"})
MAX_COERCION_ERRORS = 50  # as graphql-core's executor
# Literals that hold no variable: their coerced value is the same on every request.
_CONSTANT_LITERALS = (IntValueNode, FloatValueNode, StringValueNode, BooleanValueNode, EnumValueNode, NullValueNode)


async def _gather(awaitables: Sequence[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*awaitables))


def _track(_: Sequence[Any]) -> None:
    return None


_HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=_track)


class NotDirect(Exception):
    """The read must be answered by the compiled road (nothing it returns has been sent)."""


@dataclass(frozen=True)
class DirectRead:
    """One operation whose only selection is one root read field without directives."""

    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    node: FieldNode
    field: GraphQLField
    root: GraphQLObjectType
    object_type: GraphQLObjectType
    non_null: bool
    response_key: str
    renderer_key: tuple[Any, ...]  # the compiled road's key of the renderer for the field's selection
    # When every variable is an ID or a String without a default: their signatures (see _given_strings).
    string_variables: tuple[GraphQLVariableSignature, ...] | None = None
    # strawberry's resolver of the field, or the same steps made once (resolvers/root_resolvers.py).
    resolve: Any = None
    # When string_variables are given and every argument is one of them or left out: see string_arguments.
    string_arguments: tuple[tuple[str, str | None, Any], ...] | None = None

    async def run(
        self,
        schema: GraphQLSchema,
        renderer: Renderer,
        context: Any,
        variables: dict[str, Any] | None,
        is_awaitable: Any,
    ) -> tuple[dict[str, Any] | None, list[GraphQLError] | None]:
        """(data, errors) as graphql-core's execute gives them; raises NotDirect when it cannot."""
        given = self._given_strings(variables)
        coerced = given or get_variable_values(
            schema, self.operation.variable_definitions or (), variables or {}, max_errors=MAX_COERCION_ERRORS
        )
        if isinstance(coerced, list):
            raise NotDirect  # the compiled road reports the variables' errors
        path = Path(None, self.response_key, self.root.name)
        info = GraphQLResolveInfo(
            self.node.name.value,
            [self.node],
            self.field.type,
            self.root,
            path,
            schema,
            self.fragments,
            None,
            self.operation,
            coerced,
            context,
            is_awaitable,
            None,
            _HELPERS,
        )
        try:
            arguments = self._arguments(given, coerced)
            result = self.resolve(None, info, **arguments)
            if is_awaitable(result):
                result = await result
        except Exception as raw:  # noqa: BLE001 - located and reported as the executor reports it
            error = located_error(raw, [self.node], path.as_list())
            return (None if self.non_null else {self.response_key: None}), [error]
        if result is None:
            if self.non_null:
                raise NotDirect  # graphql-core words that error
            return {self.response_key: None}, None
        try:
            rendered = renderer(result)
        except Exception:  # noqa: BLE001 - the compiled road completes it, with its errors
            raise NotDirect from None
        return {self.response_key: rendered}, None

    def _arguments(self, given: VariableValues | None, coerced: VariableValues) -> dict[str, Any]:
        planned = self.string_arguments
        if given is None or planned is None:
            return get_argument_values(self.field, self.node, coerced)
        values = given.coerced
        return {name: default if variable is None else values[variable] for name, variable, default in planned}

    def _given_strings(self, variables: dict[str, Any] | None) -> VariableValues | None:
        # graphql-core coerces a str given for an ID or a String to that same str (coerce_id,
        # coerce_string), records it with the variable's signature and keeps only the defined
        # variables: for `$id: ID!` with a str, that is the whole of get_variable_values, whose
        # signatures are made once here. Anything else (a missing or null value, an int for an
        # ID, a str subclass) takes get_variable_values. tests/compiled/test_direct_variables.py
        # holds the two equal.
        signatures = self.string_variables
        if signatures is None or variables is None:
            return None
        sources, coerced = {}, {}
        for signature in signatures:
            value = variables.get(signature.name)
            if type(value) is not str:
                return None
            sources[signature.name] = VariableValueSource(signature, value)
            coerced[signature.name] = value
        return VariableValues(sources, coerced)


def string_variables(schema: GraphQLSchema, operation: OperationDefinitionNode) -> tuple[GraphQLVariableSignature, ...] | None:
    """The signatures of the variables when each is an ID or a String (nullable or not) without a default, else None."""
    signatures = []
    for definition in operation.variable_definitions or ():
        type_node = definition.type.type if isinstance(definition.type, NonNullTypeNode) else definition.type
        if definition.default_value is not None or not isinstance(type_node, NamedTypeNode):
            return None
        if schema.get_type(type_node.name.value) not in (GraphQLID, GraphQLString):
            return None
        signature = get_variable_signature(schema, definition)
        if not isinstance(signature, GraphQLVariableSignature):
            return None
        signatures.append(signature)
    return tuple(signatures)


def string_arguments(
    field: GraphQLField, node: FieldNode, signatures: tuple[GraphQLVariableSignature, ...] | None
) -> tuple[tuple[str, str | None, Any], ...] | None:
    """What get_argument_values gives when every variable is a str (see _given_strings), made once.

    Per argument of the field, in the field's order: (its out name, the variable it takes, None)
    or, when the node leaves it out, (its out name, None, its coerced default); an argument
    without a default that the node leaves out is not in the result, as in graphql-core's.
    A scalar or enum literal is coerced once here, by graphql-core's own coerce_argument:
    (its out name, None, its coerced value).
    A variable given as a str is never null, so graphql-core hands its value over as it is
    (coerce_input_literal). None (use get_argument_values) when an argument is a list or
    object literal, a variable not among the signatures, or a value that is not an immutable
    scalar or enum member.
    tests/compiled/test_direct_variables.py holds it equal to get_argument_values.
    """
    if signatures is None:
        return None
    names = {signature.name for signature in signatures}
    node_arguments = {argument.name.value: argument for argument in node.arguments or ()}
    given = {name: argument.value for name, argument in node_arguments.items()}
    planned: list[tuple[str, str | None, Any]] = []
    for name, definition in field.args.items():
        out_name = definition.out_name or name
        value = given.get(name)
        if isinstance(value, VariableNode) and value.name.value in names:
            planned.append((out_name, value.name.value, None))
            continue
        if value is not None and not isinstance(value, _CONSTANT_LITERALS):
            return None
        if value is None and is_required_argument(definition):
            return None
        coerced: dict[str, Any] = {}
        try:
            if value is None:
                maybe_use_default_value(coerced, out_name, definition, _refuse_default)
            else:  # a literal without variables: the same value on every request
                coerce_argument(coerced, node, name, definition, node_arguments[name], None, None)
        except Exception:  # noqa: BLE001 - the executor's own road words it
            return None
        if out_name in coerced:
            if not isinstance(coerced[out_name], str | int | float | bool | Enum | None):
                return None
            planned.append((out_name, None, coerced[out_name]))
    return tuple(planned)


def _refuse_default(error: GraphQLError, _: list[str | int]) -> None:
    raise error


def direct_read(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> DirectRead | None:
    """The operation's direct read, or None when it is not one root read field without directives."""
    root = schema.query_type
    selections = operation.selection_set.selections
    if root is None or operation.directives or len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    node = selections[0]
    name = node.name.value
    field = root.fields.get(name)
    if name not in DIRECT_ROOT_FIELDS or field is None or node.directives or node.selection_set is None:
        return None
    non_null = isinstance(field.type, GraphQLNonNull)
    object_type = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(object_type, GraphQLObjectType) or field.resolve is None:
        return None
    fragments = {
        definition.name.value: definition for definition in document.definitions if isinstance(definition, FragmentDefinitionNode)
    }
    variables = string_variables(schema, operation)
    return DirectRead(
        operation=operation,
        fragments=fragments,
        node=node,
        field=field,
        root=root,
        object_type=object_type,
        non_null=non_null,
        response_key=node.alias.value if node.alias is not None else name,
        renderer_key=renderer_key(object_type, (node,), ()),
        string_variables=variables,
        resolve=root_resolver(schema, field) or field.resolve,
        string_arguments=string_arguments(field, node, variables),
    )
