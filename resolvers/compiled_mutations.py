"""Compiled mutations: an order command whose document is known valid runs without strawberry's road.

On strawberry's road a createOrder spends most of its CPU on machinery that gives the same
answer for every request of one document: the schema extensions' hooks, graphql-core's
variable coercion, strawberry's argument conversion (a walk over the input's type per value)
and the resolver chain. For a cached document that passed parsing, the document limits and
validation on strawberry's road, this road runs one order mutation (`createOrder`,
`addOrderItem`, `shipOrder`, `cancelOrder`) from its `input: $variable`:

- the variable becomes the strawberry input object in one pass compiled from its GraphQL
  type, with the same parsers (each scalar's parse_value, as graphql-core calls it) and the
  same defaults (strawberry's None for a field left out). Anything it does not take as it
  stands (a missing or null input, an unknown key, a value a parser refuses, a single item
  where a list belongs) goes to strawberry's road before anything ran, which answers it with
  its own error;
- then the field's own extensions, in their order: every `map_arguments` (ValidInput's checks
  and canonical ids) and the role of its `Authorized`; a field with any other extension is
  not compiled;
- then the same command builder and dispatch as the Mutation root (resolvers/mutations.py):
  per-customer authorization, issuer, idempotency by commandId, expectedVersion conflicts;
- an error from there on is located at the field as graphql-core locates it (message, path,
  locations, original error), coded, masked and logged by schema.errors.assign_codes; the
  root field is non-null, so the data is null, as on strawberry's road;
- the operation metrics (same names and labels), the log scope and span, the read gate and
  the response-size limit, as resolvers/compiled_operations.py does for reads. The cost of
  such a document does not depend on its variables: it is checked once, when compiled.

Only POST requests take it (a mutation over GET is refused on strawberry's road). Documents
with fragments, directives, several root fields, arguments written inline or output fields
other than CommandResult's leaves stay on strawberry's road. tests/compiled/test_mutations.py
compares the two roads on generated inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    VariableNode,
    located_error,
)
from strawberry.types import ExecutionResult

from resolvers.authorization import Authorized, require_role
from resolvers.document_cache import CachedDocument
from resolvers.input_values import ValidInput
from resolvers.leaf_fields import plain_leaf
from resolvers.mutations import (
    add_order_item_command,
    cancel_order_command,
    create_order_command,
    dispatch,
    ship_order_command,
)
from resolvers.operation_budget import refuse_oversized
from resolvers.operation_cost import operation_cost
from resolvers.operation_metrics import OPERATION_SECONDS, count_errors
from resolvers.operation_scope import operation_scope
from schema.errors import assign_codes
from schema.read_gate import request_reads

MUTATION = OperationType.MUTATION.value
STRAWBERRY_DEFINITION = "strawberry-definition"  # strawberry's back-reference on every GraphQL type and field
# The order mutations and the builders of their commands (the Mutation root uses the same).
COMMAND_BUILDERS: dict[str, Callable[[Any, Any], Any]] = {
    "createOrder": create_order_command,
    "addOrderItem": add_order_item_command,
    "shipOrder": ship_order_command,
    "cancelOrder": cancel_order_command,
}
KNOWN_EXTENSIONS = (ValidInput, Authorized)
Coerce = Callable[[Any], Any]
_TEXT_PARSERS = (GraphQLString.parse_value, GraphQLID.parse_value)  # a str is taken as it is


class TakeStrawberrysRoad(Exception):  # noqa: N818 - a signal, not an error
    """The input is not one this road takes as it stands: strawberry's road answers it."""


@dataclass(frozen=True, kw_only=True)
class MutationPlan:
    """One order mutation of a cached, valid document."""

    operation_name: str | None  # as strawberry names it: the given name, else the operation's own
    field_node: FieldNode
    response_key: str
    argument: str  # the Python name of the field's input argument
    variable: str
    coerce: Coerce
    extensions: tuple[Any, ...]  # the field's extensions: their map_arguments, in order
    roles: frozenset[Any]
    build: Callable[[Any, Any], Any]
    outputs: tuple[tuple[str, str | None, Coerce | None], ...]  # (response key, attribute, serialize); None: __typename
    type_name: str


class CompiledMutations:
    """Runs the order mutations of one schema's cached documents (`checks` as for compiled reads)."""

    taken = 0  # operations this process answered on this road (tests read it)

    def __init__(self, schema: GraphQLSchema, checks: Any) -> None:
        self.schema = schema
        self.checks = checks

    async def execute(
        self,
        entry: CachedDocument,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
    ) -> ExecutionResult | None:
        """The result, or None when this request must take strawberry's road (nothing has run)."""
        request = getattr(context, "request", None)
        if getattr(request, "method", None) != "POST" or not isinstance(variables, dict):
            return None
        plans = getattr(entry.plans, "operations", None)
        if plans is None:
            return None
        # Beside the read plans (resolvers/compiled_operations.py), under a key of their own.
        key = (MUTATION, operation_name)
        plan = plans.get(key, False)
        if plan is False:
            plan = plans[key] = self._compile(entry, operation_name, variables)
        if plan is None:
            return None
        value = variables.get(plan.variable)
        if value is None:
            return None
        try:
            argument = plan.coerce(value)
        except TakeStrawberrysRoad:
            return None
        CompiledMutations.taken += 1
        if not self.checks.log_scope:
            return await self._run(plan, argument, context)
        with operation_scope(plan.operation_name, MUTATION, context):
            return await self._run(plan, argument, context)

    async def _run(self, plan: MutationPlan, argument: Any, context: Any) -> ExecutionResult:
        checks = self.checks
        started = time.perf_counter()
        label = None if checks.metrics is None else checks.metrics.label(plan.operation_name, valid=True)
        try:
            kwargs = {plan.argument: argument}
            for extension in plan.extensions:
                kwargs = extension.map_arguments(kwargs)
            require_role(context.principal, plan.roles)
            command = plan.build(context, kwargs[plan.argument])
            with request_reads(checks.max_concurrent_reads):  # as OperationBudget runs every operation
                result = await dispatch(context.services, command)
        except Exception as error:  # noqa: BLE001 - graphql-core's field error: located, then coded
            errors = [located_error(error, [plan.field_node], [plan.response_key])]
            assign_codes(errors)
            outcome = ExecutionResult(data=None, errors=errors)
        else:
            data = {plan.response_key: _render(plan, result)}
            outcome = ExecutionResult(data=data, errors=None)
            refuse_oversized(outcome, checks.max_response_bytes)  # type: ignore[arg-type]
        if label is not None:
            count_errors(label, MUTATION, outcome.errors or [])
            OPERATION_SECONDS.labels(label, MUTATION).observe(time.perf_counter() - started)
        return outcome

    def _compile(self, entry: CachedDocument, operation_name: str | None, variables: dict[str, Any]) -> MutationPlan | None:
        # Validated on strawberry's road, without an error, under this schema's rules.
        if not entry.validations or any(entry.validations.values()):
            return None
        definitions = entry.document.definitions
        if len(definitions) != 1 or not isinstance(definitions[0], OperationDefinitionNode):
            return None  # fragments, or several operations
        operation = definitions[0]
        own_name = None if operation.name is None else operation.name.value
        if operation.operation != OperationType.MUTATION or (operation_name is not None and operation_name != own_name):
            return None
        name = own_name if operation_name is None else operation_name
        if operation.directives or len(operation.selection_set.selections) != 1:
            return None
        field_node = operation.selection_set.selections[0]
        if not isinstance(field_node, FieldNode) or field_node.directives or field_node.selection_set is None:
            return None
        mutation_type = self.schema.mutation_type
        build = COMMAND_BUILDERS.get(field_node.name.value)
        if build is None or mutation_type is None:
            return None
        field = mutation_type.fields[field_node.name.value]
        variable = _single_variable(operation, field_node)
        strawberry_field = field.extensions.get(STRAWBERRY_DEFINITION)
        if variable is None or strawberry_field is None or len(field.args) != 1:
            return None
        (argument_name, argument), = field.args.items()
        if field_node.arguments is None or field_node.arguments[0].name.value != argument_name:
            return None
        extensions = tuple(strawberry_field.extensions)
        if not all(isinstance(extension, KNOWN_EXTENSIONS) for extension in extensions):
            return None
        roles = [extension.roles for extension in extensions if isinstance(extension, Authorized)]
        coerce = _coercer(argument.type)
        result_type = field.type.of_type if isinstance(field.type, GraphQLNonNull) else None
        outputs = None if not isinstance(result_type, GraphQLObjectType) else _outputs(result_type, field_node)
        if len(roles) != 1 or coerce is None or outputs is None or result_type is None:
            return None
        if operation_cost(self.schema, entry.document, name, variables) > self.checks.max_cost:
            return None  # strawberry's road refuses it, every time
        argument_definition = next(a for a in strawberry_field.arguments if a.graphql_name in (None, argument_name))
        return MutationPlan(
            operation_name=name,
            field_node=field_node,
            response_key=field_node.alias.value if field_node.alias else field_node.name.value,
            argument=argument_definition.python_name,
            variable=variable,
            coerce=coerce,
            extensions=extensions,
            roles=roles[0],
            build=build,
            outputs=outputs,
            type_name=result_type.name,
        )


def _render(plan: MutationPlan, result: Any) -> dict[str, Any]:
    return {
        key: plan.type_name if attribute is None else serialize(getattr(result, attribute))  # type: ignore[misc]
        for key, attribute, serialize in plan.outputs
    }


def _single_variable(operation: OperationDefinitionNode, field_node: FieldNode) -> str | None:
    """The variable the field's only argument is, when the operation declares just it, with no default."""
    if not field_node.arguments or not operation.variable_definitions:
        return None
    if len(field_node.arguments) != 1 or len(operation.variable_definitions) != 1:
        return None
    value = field_node.arguments[0].value
    definition = operation.variable_definitions[0]
    if not isinstance(value, VariableNode) or definition.default_value is not None or definition.directives:
        return None
    if definition.variable.name.value != value.name.value:
        return None
    named = definition.type.type if isinstance(definition.type, NonNullTypeNode) else definition.type
    return value.name.value if isinstance(named, NamedTypeNode) and not isinstance(named, ListTypeNode) else None


def _outputs(result_type: GraphQLObjectType, field_node: FieldNode) -> tuple[tuple[str, str | None, Coerce | None], ...] | None:
    """The selected leaves of the result (aliases kept, in order), with their attribute and serializer."""
    assert field_node.selection_set is not None
    outputs: list[tuple[str, str | None, Coerce | None]] = []
    for selection in field_node.selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.arguments or selection.selection_set:
            return None
        key = selection.alias.value if selection.alias else selection.name.value
        if selection.name.value == "__typename":
            outputs.append((key, None, None))
            continue
        output = result_type.fields.get(selection.name.value)
        leaf = None if output is None else plain_leaf(output)
        if output is None or leaf is None or not isinstance(output.type, GraphQLNonNull):
            return None
        attribute, leaf_type = leaf
        outputs.append((key, attribute, leaf_type.serialize))
    return tuple(outputs)


def _coercer(type_: GraphQLInputType) -> Coerce | None:
    """A function from a JSON variable value to the Python value strawberry would hand the resolver,
    raising TakeStrawberrysRoad for any value graphql-core would not take as it stands; None when
    the type holds something this road does not compile (an enum, a type with its own from_input)."""
    if isinstance(type_, GraphQLNonNull):
        inner = _coercer(type_.of_type)
        if inner is None:
            return None

        def non_null(value: Any) -> Any:
            if value is None:
                raise TakeStrawberrysRoad
            return inner(value)

        return non_null
    inner_nullable = _nullable_coercer(type_)
    if inner_nullable is None:
        return None
    coerce_nullable = inner_nullable

    def nullable(value: Any) -> Any:
        return None if value is None else coerce_nullable(value)

    return nullable


def _nullable_coercer(type_: GraphQLInputType) -> Coerce | None:
    if isinstance(type_, GraphQLList):
        item = _coercer(type_.of_type)
        if item is None:
            return None
        coerce_item = item

        def items(value: Any) -> Any:
            if type(value) is not list:
                raise TakeStrawberrysRoad  # graphql-core would take a single value as a list of one
            return [coerce_item(member) for member in value]

        return items
    if isinstance(type_, GraphQLScalarType):
        parse = type_.parse_value

        def scalar(value: Any) -> Any:
            try:
                parsed = parse(value)
            except Exception as error:  # graphql-core's error for it, on strawberry's road
                raise TakeStrawberrysRoad from error
            if parsed is Undefined:
                raise TakeStrawberrysRoad
            return parsed

        return scalar
    if isinstance(type_, GraphQLInputObjectType):
        return _input_object_coercer(type_)
    return None  # enums


def _input_object_coercer(type_: GraphQLInputObjectType) -> Coerce | None:
    definition = type_.extensions.get(STRAWBERRY_DEFINITION)
    if definition is None or definition.from_input is not None or definition.is_one_of:
        return None
    cls = definition.origin
    # strawberry's convert_argument: None for each field without a default, then those given.
    implicit = {
        field.python_name: None
        for field in definition.fields
        if field.default_value is MISSING and field.default_factory is MISSING
    }
    fields: dict[str, tuple[str, Coerce, bool, Any, type | None]] = {}
    for name, field in type_.fields.items():
        strawberry_field = field.extensions.get(STRAWBERRY_DEFINITION)
        coerce = _coercer(field.type)
        unusual = field.out_name is not None or field.default_value not in (None, Undefined)
        if strawberry_field is None or coerce is None or unusual:
            return None
        required = isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        as_is = str if isinstance(leaf, GraphQLScalarType) and leaf.parse_value in _TEXT_PARSERS else None
        fields[name] = (strawberry_field.python_name, coerce, required, field.default_value, as_is)

    def input_object(value: Any) -> Any:
        if type(value) is not dict or not value.keys() <= fields.keys():
            raise TakeStrawberrysRoad
        kwargs = dict(implicit)
        for name, (python_name, coerce, required, default, as_is) in fields.items():
            given = value.get(name, Undefined)
            if type(given) is as_is:
                kwargs[python_name] = given  # what String's and ID's parse_value return for a str
            elif given is not Undefined:
                kwargs[python_name] = coerce(given)
            elif required:
                raise TakeStrawberrysRoad
            elif default is None:
                kwargs[python_name] = None  # graphql-core's default for the field
        return cls(**kwargs)

    return input_object
