"""What an operation costs before it runs, in Orderly's own terms.

A point is about one database read or one row. Each field is counted where it is written,
so every alias counts again:

- `order` and `customer` are a lookup (1), `customerOrders` a page (2: rows and count),
  `searchOrders` a search (10: pattern matches over the read model), `orderEvents` a stream
  read (2), `projections` 2, `Order.customer` a batched lookup (1), each mutation a write (10);
- a page's `items` cost their pageSize in rows (default 20, at most 100), and what each row
  selects is multiplied by that: nested lists multiply;
- a wait costs its waitMs (or a subscription's timeoutMs) at one point per 100 ms, counted
  up to the longest query wait (10 s: a longer-lived subscription is bounded by the
  per-connection subscription limits instead); a query waits only with minVersion or
  minPosition, for 2 s unless waitMs says otherwise.

Arguments may be variables, so the cost is computed per request, after validation (the
document is known to be valid) and before execution. Fragments are costed once per page size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    value_from_ast_untyped,
)

from projections.order_views.queries import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from resolvers.arguments import DEFAULT_WAIT_MS, MAX_WAIT_MS

WAIT_MS_PER_POINT = 100
ROW = 1


@dataclass(frozen=True)
class FieldCost:
    """A field's own cost: its reads, the argument holding its wait, whether it pages."""

    reads: int = 0
    wait: str | None = None  # the argument with the wait in milliseconds
    waits_only_with: str | None = None  # the argument that makes a query wait at all
    pages: bool = False  # its pageSize is the row count of the page's items


SEARCH = 10
WRITE = 10
FIELD_COSTS: Mapping[tuple[str, str], FieldCost] = {
    ("Query", "order"): FieldCost(reads=1, wait="waitMs", waits_only_with="minVersion"),
    ("Query", "customerOrders"): FieldCost(reads=2, wait="waitMs", waits_only_with="minPosition", pages=True),
    ("Query", "searchOrders"): FieldCost(reads=SEARCH, wait="waitMs", waits_only_with="minPosition", pages=True),
    ("Query", "customer"): FieldCost(reads=1),
    ("Query", "orderEvents"): FieldCost(reads=2),
    ("Query", "projections"): FieldCost(reads=2),
    ("Order", "customer"): FieldCost(reads=1),
    ("Mutation", "createOrder"): FieldCost(reads=WRITE),
    ("Mutation", "addOrderItem"): FieldCost(reads=WRITE),
    ("Mutation", "shipOrder"): FieldCost(reads=WRITE),
    ("Mutation", "cancelOrder"): FieldCost(reads=WRITE),
    ("Subscription", "orderProjected"): FieldCost(reads=1, wait="timeoutMs"),
    ("Subscription", "orderUpdated"): FieldCost(reads=1),
    ("Subscription", "projectionCaughtUp"): FieldCost(reads=1, wait="timeoutMs"),
}
# List fields whose elements are rows read for the request: one row each, pageSize of them.
PAGE_ROWS = frozenset({("OrderPage", "items")})
_FREE = FieldCost()


def operation_cost(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> int:
    """The cost of the operation the request runs (0 when there is none to run)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    return _Costing(schema, document, dict(variables or {})).selections(root, operation.selection_set, DEFAULT_PAGE_SIZE)


class _Costing:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.costed: dict[tuple[str, int], int] = {}
        self.visiting: set[str] = set()

    def selections(self, parent: GraphQLNamedType, selection_set: SelectionSetNode, page_size: int) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection, page_size)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = parent if condition is None else self.schema.get_type(condition.name.value) or parent
                total += self.selections(inner, selection.selection_set, page_size)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, page_size)
        return total

    def fragment(self, name: str, page_size: int) -> int:
        key = (name, page_size)
        if key not in self.costed:
            fragment = self.fragments.get(name)
            if fragment is None or name in self.visiting:
                return 0
            condition = self.schema.get_type(fragment.type_condition.name.value)
            if condition is None:
                return 0
            self.visiting.add(name)
            try:
                self.costed[key] = self.selections(condition, fragment.selection_set, page_size)
            finally:
                self.visiting.discard(name)
        return self.costed[key]

    def field(self, parent: GraphQLNamedType, node: FieldNode, page_size: int) -> int:
        name = node.name.value
        if not isinstance(parent, GraphQLObjectType) or name not in parent.fields:
            return 0  # introspection (in memory) or a field validation has refused
        spec = FIELD_COSTS.get((parent.name, name), _FREE)
        arguments = {
            argument.name.value: value_from_ast_untyped(argument.value, self.variables) for argument in node.arguments or ()
        }
        own = spec.reads + self.wait(spec, arguments, parent is self.schema.subscription_type)
        if spec.pages:
            page_size = _bounded(arguments.get("pageSize"), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        if node.selection_set is None:
            return own
        children = self.selections(get_named_type(parent.fields[name].type), node.selection_set, page_size)
        if (parent.name, name) in PAGE_ROWS:
            return own + page_size * (ROW + children)
        return own + children

    @staticmethod
    def wait(spec: FieldCost, arguments: Mapping[str, Any], subscription: bool) -> int:
        if spec.wait is None:
            return 0
        if spec.waits_only_with is not None and arguments.get(spec.waits_only_with) is None:
            return 0
        default = MAX_WAIT_MS if subscription else DEFAULT_WAIT_MS  # a subscription without timeoutMs waits on
        milliseconds = _bounded(arguments.get(spec.wait), default, 0, MAX_WAIT_MS)
        return math.ceil(milliseconds / WAIT_MS_PER_POINT)


def _bounded(value: Any, default: int, lowest: int, highest: int) -> int:
    """An Int argument within its accepted range (an out-of-range one is refused later as BAD_USER_INPUT)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return default
    return min(max(value, lowest), highest)
