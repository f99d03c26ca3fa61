"""Compiled renderers: an object's whole selection, compiled once per document into one Python function.

graphql-core completes an object field by field: it collects the selection, builds a
resolve-info per field, calls strawberry's resolver, walks the type (non-null, list, leaf,
object) and coerces, again for every field of every row. For an order that is some fifty
fields, and for a page of twenty orders a thousand.

Here, when an object's selection (after graphql-core's own field collection: fragments,
type conditions, @skip/@include with this request's variables, merged aliases) holds only
fields strawberry resolves by reading an attribute (no resolver, no arguments, no field
extension), `__typename`, and objects or lists of such objects, it is compiled into one
generated function that reads the attributes and builds the response dict directly. It is
cached on the document (resolvers/document_cache.py), keyed by the selection's nodes and
the values of the variables its directives read, so a repeated query compiles once.

The root fields still run through graphql-core and strawberry as before: their argument
coercion, field extensions (ValidInput, Authorized), resolvers (waits, the read gate,
per-customer authorization) and errors are unchanged. A renderer reads attributes and
coerces leaves, nothing else, so whenever its answer might differ from the generic one (a
null where the type forbids it, a value a fast coercion does not know, anything raised)
it gives up and graphql-core completes the object itself, with the very errors and paths
it always gives: giving up costs the rendering done so far, never a different result.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    TypeNameMetaFieldDef,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import collect_subfields
from graphql.language import (
    DirectiveNode,
    DocumentNode,
    VariableNode,
    Visitor,
    visit,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter

from resolvers.document_cache import CachedDocument
from resolvers.leaf_fields import LeafFieldExecutionContext

Renderer = Callable[[Any], dict[str, Any]]
MAX_RENDERERS_PER_DOCUMENT = 64  # distinct (selection, directive variables) pairs compiled per document

# The document of the operation this task is running, with its compiled renderers; set by the
# parse step (resolvers/document_parsing.py) for documents the document cache keeps.
_CURRENT: ContextVar[CachedDocument | None] = ContextVar("orderly_current_document", default=None)
_UNCOMPILABLE = object()
# Lists of objects a resolver may hand over as rows, by the objects' type name: (the class of
# such a list, with `rows` and `objects()`; a function adding a rows renderer for a selection to
# a compiler, returning its name or None). resolvers/order_rows.py registers Order's.
ROW_LISTS: dict[str, tuple[type, Callable[[Any, GraphQLObjectType, Any], str | None]]] = {}
# Told which renderer rendered an operation's root object (a WebSocket handler keeps it for
# later versions of a subscription's object: resolvers/update_handoff.py); unset elsewhere.
ROOT_RENDERED: ContextVar[Callable[[Renderer], None] | None] = ContextVar("orderly_root_rendered", default=None)


def use_document(entry: CachedDocument | None) -> None:
    """The cached document this task's operation runs (None: not cached, nothing is compiled)."""
    _CURRENT.set(entry)


def current_document() -> CachedDocument | None:
    """The cached document this task's operation runs, if any (a handed-over subscription keeps it)."""
    return _CURRENT.get()


class DocumentPlans:
    """What was compiled for one document: object renderers, the variables its @skip/@include
    read, and its operation plans (resolvers/compiled_operations.py), by operation name."""

    def __init__(self, document: DocumentNode) -> None:
        self.directive_variables = _directive_variables(document)
        self.renderers: dict[tuple[Any, ...], Renderer | object] = {}
        self.operations: dict[str | None, Any] = {}


class CompiledExecutionContext(LeafFieldExecutionContext):
    """The leaf-field executor, completing compilable objects with a compiled renderer."""

    compiled_objects = 0  # objects completed by a renderer in this process (tests read it)

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        renderer = self._renderer(return_type, field_details_list)
        if renderer is not None:
            try:
                rendered = renderer(result)
            except Exception:  # noqa: BLE001, S110 - the generic path below reproduces it, located
                pass
            else:
                CompiledExecutionContext.compiled_objects += 1
                if path.prev is None:
                    listener = ROOT_RENDERED.get()
                    if listener is not None:
                        listener(renderer)
                return rendered
        return super().complete_object_value(return_type, field_details_list, info, path, result, position_context)

    def _renderer(self, return_type: GraphQLObjectType, field_details_list: Any) -> Renderer | None:
        entry = _CURRENT.get()
        if entry is None or (self.middleware_manager is not None and self.middleware_manager.middlewares):
            return None
        operation = self.operation
        if not any(definition is operation for definition in entry.document.definitions):
            return None  # a stale value: another document
        plans = entry.plans
        if not isinstance(plans, DocumentPlans):
            plans = entry.plans = DocumentPlans(entry.document)
        coerced = self.variable_values.coerced
        # The nodes belong to the cached document, which the entry keeps alive: their ids are stable.
        key = renderer_key(
            return_type,
            [details.node for details in field_details_list],
            [coerced.get(name, Undefined) for name in plans.directive_variables],
        )
        known = plans.renderers.get(key)
        if known is None:
            if len(plans.renderers) >= MAX_RENDERERS_PER_DOCUMENT:
                return None
            known = _Compiler(self).object_renderer(return_type, field_details_list) or _UNCOMPILABLE
            plans.renderers[key] = known
        return None if known is _UNCOMPILABLE else known  # type: ignore[return-value]


def renderer_key(object_type: GraphQLObjectType, nodes: Any, directive_values: Any) -> tuple[Any, ...]:
    """A renderer's key in DocumentPlans.renderers: the type, the selection's nodes, the directives' variables."""
    return (object_type.name, *(id(node) for node in nodes), *directive_values)


def known_renderer(plans: DocumentPlans, key: tuple[Any, ...]) -> Renderer | None:
    """The renderer compiled under this key, if one was (None: not yet, or not compilable)."""
    known = plans.renderers.get(key)
    return None if known is None or known is _UNCOMPILABLE else known  # type: ignore[return-value]


class _NotCompilable(Exception):
    pass


class _Compiler:
    """Generates the source of one renderer (and of the renderers it nests), then executes it."""

    def __init__(self, executor: CompiledExecutionContext) -> None:
        self.executor = executor
        self.constants: dict[str, Any] = {"Undefined": Undefined}
        self.functions: list[str] = []

    def object_renderer(self, object_type: GraphQLObjectType, field_details_list: Any) -> Renderer | None:
        try:
            name = self.object_function(object_type, field_details_list)
        except _NotCompilable:
            return None
        namespace = dict(self.constants)
        exec("\n\n".join(self.functions), namespace)  # noqa: S102 - source generated above from the schema and the document, names only
        return namespace[name]

    def constant(self, value: Any) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = value
        return name

    def object_function(self, object_type: GraphQLObjectType, field_details_list: Any) -> str:
        if object_type.is_type_of is not None:
            raise _NotCompilable
        executor = self.executor
        grouped, defer_usages, _ = collect_subfields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            object_type,
            field_details_list,
            executor.hide_suggestions,
        )
        if defer_usages:
            raise _NotCompilable
        name = f"render{len(self.functions)}"
        self.functions.append("")  # this function's place, filled below
        index = len(self.functions) - 1
        lines = [f"def {name}(source):", "    result = {}"]
        for response_name, details in grouped.items():
            key = repr(response_name)
            if any(detail.fragment_variable_values is not None for detail in details):
                raise _NotCompilable
            field_name = details[0].node.name.value
            if field_name == "__typename":
                lines.append(f"    result[{key}] = {object_type.name!r}")
                continue
            field = object_type.fields.get(field_name)
            attribute = None if field is None else _plain_attribute(field)
            if field is None or attribute is None:
                raise _NotCompilable
            lines.append(f"    value = source.{attribute}")
            lines.extend(self.value_lines(field.type, details, "value", f"result[{key}]", "    "))
        lines.append("    return result")
        self.functions[index] = "\n".join(lines)
        return name

    def value_lines(self, output: GraphQLOutputType, details: Any, value: str, target: str, indent: str) -> list[str]:
        """Lines that set `target` to the completed `value` of type `output`, or raise."""
        non_null = isinstance(output, GraphQLNonNull)
        inner = output.of_type if isinstance(output, GraphQLNonNull) else output
        lines = [f"{indent}if {value} is None:"]
        lines.append(f"{indent}    raise ValueError" if non_null else f"{indent}    {target} = None")
        lines.append(f"{indent}else:")
        body = indent + "    "
        if is_leaf_type(inner):
            lines.extend(self.leaf_lines(inner, value, target, body))
        elif isinstance(inner, GraphQLList):
            item = f"item{len(indent)}"
            items = f"items{len(indent)}"
            row_lines, body = self.row_list_lines(inner.of_type, details, value, target, body)
            lines.extend(row_lines)
            lines.append(f"{body}if type({value}) is not list:")
            lines.append(f"{body}    raise ValueError")
            lines.append(f"{body}{items} = []")
            lines.append(f"{body}for {item} in {value}:")
            lines.extend(self.value_lines(inner.of_type, details, item, f"{items}_value", body + "    "))
            lines.append(f"{body}    {items}.append({items}_value)")
            lines.append(f"{body}{target} = {items}")
        elif isinstance(inner, GraphQLObjectType):
            function = self.object_function(inner, details)
            lines.append(f"{body}{target} = {function}({value})")
        else:
            raise _NotCompilable  # interfaces and unions: the executor resolves their types
        return lines

    def row_list_lines(
        self, item: GraphQLOutputType, details: Any, value: str, target: str, indent: str
    ) -> tuple[list[str], str]:
        """Lines rendering a list kept as rows (ROW_LISTS), and the indent the list's own lines continue at."""
        named = item.of_type if isinstance(item, GraphQLNonNull) else item
        kind = ROW_LISTS.get(named.name) if isinstance(named, GraphQLObjectType) else None
        if kind is None or not isinstance(named, GraphQLObjectType):
            return [], indent
        rows_class, compile_rows = kind
        kept_as_rows = f"{indent}if type({value}) is {self.constant(rows_class)}:"
        function = compile_rows(self, named, details)
        if function is None:  # a selection the rows cannot answer: the list's objects, rendered below
            return [kept_as_rows, f"{indent}    {value} = {value}.objects()"], indent
        return [kept_as_rows, f"{indent}    {target} = {function}({value}.rows)", f"{indent}else:"], indent + "    "

    def leaf_lines(self, leaf: Any, value: str, target: str, indent: str) -> list[str]:
        # The fast tests return exactly what graphql-core's serializers return for those values.
        coerce = self.constant(leaf.coerce_output_value)
        if leaf is GraphQLString or leaf is GraphQLID:
            fast = f"type({value}) is str"
        elif leaf is GraphQLInt:
            fast = f"type({value}) is int and -2147483648 <= {value} <= 2147483647"
        elif leaf is GraphQLBoolean:
            fast = f"type({value}) is bool"
        else:
            fast = None
        lines = []
        names = _enum_names(leaf)
        if names is not None:
            # strawberry's enum coercion loops over the values; for a member of the enum the
            # answer is fixed, so it is looked up (anything else takes the coercion below).
            enum_class, table = self.constant(type(next(iter(names)))), self.constant(names)
            lines += [f"{indent}if type({value}) is {enum_class}:", f"{indent}    {target} = {table}[{value}]", f"{indent}else:"]
            indent += "    "
        elif fast is not None:
            lines += [f"{indent}if {fast}:", f"{indent}    {target} = {value}", f"{indent}else:"]
            indent += "    "
        lines += [
            f"{indent}coerced = {coerce}({value})",
            f"{indent}if coerced is None or coerced is Undefined:",
            f"{indent}    raise ValueError",
            f"{indent}{target} = coerced",
        ]
        return lines


def _enum_names(leaf: Any) -> dict[Any, str] | None:
    """Each member of a strawberry enum with the name its coercion gives it; None for other leaves."""
    members = list(getattr(leaf, "wrapped_cls", ()) or ())
    if not isinstance(leaf, GraphQLEnumType) or not members:
        return None
    try:
        names = {member: leaf.coerce_output_value(member) for member in members}
    except Exception:  # noqa: BLE001 - a member it cannot coerce: no table, the coercion decides each time
        return None
    if len({type(member) for member in members}) != 1 or not all(isinstance(name, str) for name in names.values()):
        return None
    return names


def _plain_attribute(field: GraphQLField) -> str | None:
    """The attribute strawberry reads for a field with no resolver, arguments or extensions."""
    if field is TypeNameMetaFieldDef or field.args or not getattr(field.resolve, "_is_default", False):
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or not definition.is_basic_field:
        return None
    name = definition.python_name
    return name if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__") else None


def _directive_variables(document: DocumentNode) -> tuple[str, ...]:
    """The variables any directive of the document reads (@skip and @include decide the selection)."""
    names: dict[str, None] = {}

    class Collect(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            for argument in node.arguments or ():
                for variable in variables_in(argument.value):
                    names[variable] = None

    visit(document, Collect())
    return tuple(names)


def variables_in(value: Any) -> list[str]:
    if isinstance(value, VariableNode):
        return [value.name.value]
    found: list[str] = []
    for nested in getattr(value, "values", None) or ():
        found += variables_in(nested)
    for nested in getattr(value, "fields", None) or ():
        found += variables_in(nested.value)
    return found
