"""The compiled road keeps each plan's cost by the variables the cost reads: the kept cost must
equal operation_cost computed afresh for any variables (page sizes, waits, ids, several of them)."""

from __future__ import annotations

from typing import Any

from graphql import parse
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.compiled_operations import CompiledOperations, OperationPlan, costed_variables
from resolvers.graphql_schema import build_schema
from resolvers.operation_cost import operation_cost

SCHEMA = build_schema()._schema  # noqa: SLF001
DOCUMENTS = [
    "query Q($id: ID!, $v: Int, $w: Int) { order(orderId: $id, minVersion: $v, waitMs: $w) { orderId } }",
    "query Q($c: ID!, $n: Int, $p: Int) { customerOrders(customerId: $c, pageSize: $n, page: $p) { items { orderId } } }",
    "query Q($n: Int, $q: String, $m: Position) { searchOrders(query: $q, pageSize: $n, minPosition: $m) "
    "{ items { orderId customer { orderCount } } } a: customerOrders(customerId: $q, pageSize: $n) { total } }",
    "query Q($n: Int, $w: Int) { ...F } fragment F on Query { customerOrders(customerId: \"c\", pageSize: $n, waitMs: $w, "
    "minPosition: 3) { items { items { price } } } }",
]
VALUES = st.one_of(st.none(), st.integers(-5, 20_000), st.booleans(), st.text(max_size=3), st.just([1]))


def _operations() -> CompiledOperations:
    return CompiledOperations(SCHEMA, None, None, None)  # type: ignore[arg-type] - only _cost is used


@settings(max_examples=300, deadline=None, database=None)
@given(index=st.integers(0, len(DOCUMENTS) - 1), requests=st.lists(st.dictionaries(
    st.sampled_from(["id", "v", "w", "c", "n", "p", "q", "m", "other"]), VALUES, max_size=6), min_size=1, max_size=6))
def test_kept_costs_equal_fresh_costs(index: int, requests: list[dict[str, Any]]) -> None:
    document = parse(DOCUMENTS[index])
    plan = OperationPlan(document=document, operation_name="Q", costed_variables=costed_variables(document))
    operations = _operations()
    for variables in requests:
        assert operations._cost(plan, variables) == operation_cost(SCHEMA, document, "Q", variables), variables  # noqa: SLF001


def test_only_page_sizes_and_waits_make_the_key() -> None:
    assert costed_variables(parse(DOCUMENTS[0])) == ("v", "w")
    assert costed_variables(parse(DOCUMENTS[1])) == ("n",)
    assert set(costed_variables(parse(DOCUMENTS[2]))) == {"n", "m"}
