"""A page's orders rendered straight from their rows, without building views and Order objects.

A page of twenty orders holds some two hundred lines; building an OrderView and an
OrderItemView per row and line (OrderView.from_row), copying them into Order and OrderItem
(Order.from_view) and then reading them back attribute by attribute (the compiled renderer)
was most of a customerOrders request's CPU. So the list resolvers return the page with its
orders as `OrderRows`: the rows the page read, becoming Order objects only when something
iterates them (graphql-core's generic completion, any selection this module cannot compile).

For the compiled renderers (resolvers/compiled_objects.py), an `items` selection of plain
Order fields is compiled into a function over the rows that computes each value exactly as
from_row computes it (the same Decimal parsing and multiplication, the same status lookup, the
same check of the address's fields, for every row and line whether selected or not) and
coerces it with the same leaf code the object renderer uses. Whatever it cannot do raises, and
the compiled renderer then gives up as it always does: graphql-core completes the page from the
Order objects, with its own errors and paths. A change to OrderView.from_row or Order.from_view
needs the same change here: tests/compiled/test_order_rows.py compares the two roads on
generated rows and selections.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Sequence
from decimal import Decimal
from typing import Any, overload

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType
from graphql.execution.collect_fields import collect_subfields

from domain.values import Address, OrderStatus
from projections.order_views.queries import OrderPageView
from resolvers.compiled_objects import ROW_LISTS, _plain_attribute
from schema.scalars import Position
from schema.types import Order, OrderPage

# Order fields copied from the row unchanged (from_row and from_view copy them as they are).
_COPIED = frozenset(
    {
        "order_id", "customer_id", "item_count", "created_at", "shipped_at", "cancelled_at",
        "cancel_reason", "version", "position",
    }
)
_ITEM_VALUES = ("product_id", "quantity", "price", "line_total")  # a line's values, as locals of the row loop
_ADDRESS_FIELDS = frozenset(field.name for field in dataclasses.fields(Address))
_STATUSES = {status.value: status for status in OrderStatus}


class OrderRows(Sequence[Order]):
    """A page's orders as the rows it read; Order objects are built on first iteration, once."""

    __slots__ = ("_objects", "_view", "rows")
    rendered = 0  # pages this process rendered from their rows (tests read it)

    def __init__(self, view: OrderPageView) -> None:
        self._view = view
        self._objects: list[Order] | None = None
        self.rows = view.rows

    def objects(self) -> list[Order]:
        """The orders as Order objects (Order.from_view of the page's views)."""
        if self._objects is None:
            self._objects = [Order.from_view(view) for view in self._view.items]
        return self._objects

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> Order: ...
    @overload
    def __getitem__(self, index: slice) -> list[Order]: ...
    def __getitem__(self, index: int | slice) -> Order | list[Order]:
        return self.objects()[index]

    def __iter__(self) -> Iterator[Order]:
        return iter(self.objects())


def order_page(view: OrderPageView) -> OrderPage:
    """The page as the API shows it, its orders kept as rows until something needs objects."""
    return OrderPage(
        items=OrderRows(view),  # type: ignore[arg-type]  # a sequence of Order, built on demand
        total=view.total,
        page=view.page,
        page_size=view.page_size,
        total_pages=view.total_pages,
        position=Position(view.position),
    )


def status_of(value: str) -> OrderStatus:
    """The status from_row gives a row's status text."""
    return _STATUSES.get(value) or OrderStatus(value)


class _NotRowCompilable(Exception):
    pass


def compile_order_rows(compiler: Any, order_type: GraphQLObjectType, details: Any) -> str | None:
    """The name of a generated function rendering a list of rows for this Order selection, or None."""
    try:
        return _RowCompiler(compiler).rows_function(order_type, details)
    except _NotRowCompilable:
        return None


class _RowCompiler:
    """Adds row functions to a compiled_objects compiler's source (its constants and leaf code)."""

    def __init__(self, compiler: Any) -> None:
        self.compiler = compiler

    def selection(self, object_type: GraphQLObjectType, details: Any) -> list[tuple[str, Any, Any]]:
        """(response key, field or None for __typename, the field's details) of the selection."""
        if object_type.is_type_of is not None:
            raise _NotRowCompilable
        executor = self.compiler.executor
        grouped, defer_usages, _ = collect_subfields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            object_type,
            details,
            executor.hide_suggestions,
        )
        if defer_usages:
            raise _NotRowCompilable
        fields = []
        for response_name, field_details in grouped.items():
            if any(detail.fragment_variable_values is not None for detail in field_details):
                raise _NotRowCompilable
            name = field_details[0].node.name.value
            field = None if name == "__typename" else object_type.fields.get(name)
            if name != "__typename" and (field is None or _plain_attribute(field) is None):
                raise _NotRowCompilable
            fields.append((response_name, field, field_details))
        return fields

    def add(self, lines: list[str]) -> str:
        functions = self.compiler.functions
        name = f"rows{len(functions)}"
        functions.append("\n".join(line.replace("NAME", name, 1) if index == 0 else line for index, line in enumerate(lines)))
        return name

    def leaf(self, field: Any, details: Any, value: str, target: str, indent: str) -> list[str]:
        return list(self.compiler.value_lines(field.type, details, value, target, indent))

    def rows_function(self, order_type: GraphQLObjectType, details: Any) -> str:
        row = self.row_function(order_type, details)
        kind = self.compiler.constant(OrderRows)
        return self.add(["def NAME(rows):", f"    {kind}.rendered += 1", f"    return [{row}(row) for row in rows]"])

    def row_function(self, order_type: GraphQLObjectType, details: Any) -> str:
        decimal, statuses = self.compiler.constant(Decimal), self.compiler.constant(status_of)
        address_fields = self.compiler.constant(_ADDRESS_FIELDS)
        body: list[str] = []
        line_renderings: list[list[str]] = []  # one per `items` selection (aliases may select it twice)
        for response_name, field, field_details in self.selection(order_type, details):
            key = f"result[{response_name!r}]"
            if field is None:
                body.append(f"    {key} = {order_type.name!r}")
                continue
            attribute = _plain_attribute(field)
            if attribute in _COPIED:
                body.append(f"    value = row[{attribute!r}]")
                body.extend(self.leaf(field, field_details, "value", key, "    "))
            elif attribute in ("status", "total_amount"):
                body.extend(self.leaf(field, field_details, attribute, key, "    "))
            elif attribute == "items":
                index = len(line_renderings)
                line_renderings.append(self.line_lines(_object_of(field.type, listed=True), field_details, index))
                body.append(f"    {key} = lines{index}")
            elif attribute == "shipping_address":
                function = self.address_function(_object_of(field.type, listed=False), field_details)
                body.append(f"    {key} = {function}(address)")
            else:
                raise _NotRowCompilable
        # Every row is converted and checked as from_row converts and checks it, selected or not.
        lines = [
            "def NAME(row):",
            *(f"    lines{index} = []" for index in range(len(line_renderings))),
            "    for line in row['items']:",
            f"        price = {decimal}(line['price'])",
            "        quantity = line['quantity']",
            "        line_total = price * quantity",
            "        product_id = line['product_id']",
        ]
        for rendering in line_renderings:
            lines.extend(rendering)
        lines += [
            f"    status = {statuses}(row['status'])",
            f"    total_amount = {decimal}(row['total_amount'])",
            "    address = row['shipping_address']",
            f"    if address.keys() != {address_fields}:",
            "        raise ValueError",
            "    result = {}",
            *body,
            "    return result",
        ]
        return self.add(lines)

    def line_lines(self, item_type: GraphQLObjectType, details: Any, index: int) -> list[str]:
        """The loop body's lines appending one line's rendering to `lines<index>`, inline.

        A page holds some two hundred lines, so each value is completed into a local and the line's
        dict is made in one display, its keys in the selection's order, with no function call per
        line: about 8,260 → 7,520 instructions a line (callgrind; the Decimal parse, product and two
        str() that from_row's semantics need are about 4,630 of them).
        """
        body, keys = [], []
        for response_name, field, field_details in self.selection(item_type, details):
            if field is None:
                keys.append(f"{response_name!r}: {item_type.name!r}")
                continue
            attribute = _plain_attribute(field)
            if attribute not in _ITEM_VALUES:
                raise _NotRowCompilable
            local = f"line{index}_{len(keys)}"
            body.extend(self.leaf(field, field_details, attribute, local, "        "))
            keys.append(f"{response_name!r}: {local}")
        return [*body, f"        lines{index}.append({{{', '.join(keys)}}})"]

    def address_function(self, address_type: GraphQLObjectType, details: Any) -> str:
        return self.leaves_function(address_type, details, _ADDRESS_FIELDS, "address[{!r}]", "address")

    def leaves_function(
        self, object_type: GraphQLObjectType, details: Any, attributes: Collection[str], value_of: str, parameters: str
    ) -> str:
        """A function of `parameters` rendering a selection of leaf fields among `attributes`, each read by `value_of`."""
        body = []
        for response_name, field, field_details in self.selection(object_type, details):
            key = f"result[{response_name!r}]"
            if field is None:
                body.append(f"    {key} = {object_type.name!r}")
                continue
            attribute = _plain_attribute(field)
            if attribute not in attributes:
                raise _NotRowCompilable
            body.append(f"    value = {value_of.format(attribute)}")
            body.extend(self.leaf(field, field_details, "value", key, "    "))
        return self.add([f"def NAME({parameters}):", "    result = {}", *body, "    return result"])


def _object_of(output: Any, *, listed: bool) -> GraphQLObjectType:
    """The object type of a non-null object field, or of a non-null list of non-null objects."""
    if not isinstance(output, GraphQLNonNull):
        raise _NotRowCompilable
    inner = output.of_type
    if listed:
        if not isinstance(inner, GraphQLList) or not isinstance(inner.of_type, GraphQLNonNull):
            raise _NotRowCompilable
        inner = inner.of_type.of_type
    if not isinstance(inner, GraphQLObjectType):
        raise _NotRowCompilable
    return inner


ROW_LISTS["Order"] = (OrderRows, compile_order_rows)
