"""Pages rendered from their rows (resolvers/order_rows.py) answer exactly as Order objects do.

Generated order_views rows (decimal texts of any exponent, statuses and addresses a row should
not hold now and then) and generated selections on OrderPage run through the served schema
(compiled renderers, rows road) and through the schema without compilation (graphql-core over
Order.from_view(OrderView.from_row(row))). The whole response must be equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.order_views.queries import OrderPageView
from resolvers.order_rows import OrderRows
from schema.context import Context, Services
from schema.loaders import build_loaders
from schema.principal import Principal, Role
from tests.compiled.test_differential import COMPILED, GENERIC, Document, _response, _selection
from tests.projections.test_filled_orders import rows

STAFF = Principal(subject="staff-1", roles=frozenset({Role.STAFF}))
# Any finite decimal text (exponents, negative zero), mostly prices with trailing zeros.
decimal_texts = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.decimals(min_value=0, max_value=10_000, places=2).map(str),
    st.sampled_from(["12.50", "0.10", "5", "-0", "1E+2", "0.000"]),
)
lines = st.fixed_dictionaries({"product_id": st.text(max_size=8), "quantity": st.integers(-3, 10_000), "price": decimal_texts})
# Now and then a row from_row refuses: a status the contract lacks, an address without all its fields.
ODD = {"status": st.just("LOST"), "shipping_address": st.just({"line1": "1 Main St", "city": "Springfield"})}


@st.composite
def page_rows(draw: st.DrawFn) -> dict[str, Any]:
    row: dict[str, Any] = dict(draw(rows))
    row["items"] = draw(st.lists(lines, max_size=4))
    row["total_amount"] = draw(decimal_texts)
    if draw(st.integers(0, 15)) == 0:
        field = draw(st.sampled_from(sorted(ODD)))
        row[field] = draw(ODD[field])
    return row


@dataclass
class PageOfRows:
    """OrderQueries answering every page with the same rows."""

    rows: tuple[dict[str, Any], ...]

    async def customer_orders(self, customer_id: str, **_: Any) -> OrderPageView:
        return OrderPageView(rows=self.rows, total=len(self.rows), page=1, page_size=20, total_pages=1, position=7)


class NoSummaries:
    async def get_many(self, customer_ids: list[str]) -> dict[str, Any]:
        return {}


def _context(page: PageOfRows) -> Context:
    services = Services(  # only what customerOrders and Order.customer read
        commands=None, clock=None, store=None, orders=page, order_reader=None, customers=NoSummaries(),  # type: ignore[arg-type]
        tracker=None, projection_names=(), new_id=None, statuses=None, status=None, parking=None,  # type: ignore[arg-type]
    )
    return Context(services=services, loaders=build_loaders(services.customers, cache=True), principal=STAFF)


async def _run(schema: Any, page: PageOfRows, text: str) -> dict[str, Any]:
    result = await schema.execute_compiled(text, None, _context(page), None, None)
    if result is None:
        result = await schema.execute(text, context_value=_context(page))
    return _response(result)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(generated=st.lists(page_rows(), max_size=4), data=st.data())
async def test_a_page_rendered_from_rows_equals_one_rendered_from_orders(generated: list[dict[str, Any]], data: Any) -> None:
    document = Document()
    selection = data.draw(_selection(document, "OrderPage"))
    header = f"query Q({', '.join(f'${flag}: Boolean! = {str(value).lower()}' for flag, value in document.flags.items())})"
    text = f"{header if document.flags else 'query Q'} {{ customerOrders(customerId: \"c-1\") {{ {selection} }} }}\n"
    text += "\n".join(document.fragments.values())
    page = PageOfRows(tuple(generated))
    generic = await _run(GENERIC, page, text)
    for _ in range(3):  # strawberry's road with compiled renderers, then the compiled operation
        assert await _run(COMPILED, page, text) == generic, text


async def test_a_plain_selection_is_rendered_from_the_rows() -> None:
    row: dict[str, Any] = {
        "order_id": "o-1", "customer_id": "c-1", "status": "SHIPPED", "item_count": 3, "total_amount": "13.49",
        "items": [
            {"product_id": "beans", "quantity": 1, "price": "12.50"},
            {"product_id": "papers", "quantity": 1, "price": "0.99"},
        ],
        "shipping_address": {"line1": "1 Main St", "line2": None, "city": "Springfield", "postal_code": "12345", "country": "US"},
        "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "shipped_at": None, "cancelled_at": None, "cancel_reason": None, "version": 2, "position": 9,
    }
    text = (
        "query Q { customerOrders(customerId: \"c-1\") { total items { orderId status totalAmount createdAt "
        "items { productId price lineTotal } again: items { lineTotal __typename } shippingAddress { city } } } }"
    )
    page = PageOfRows((row,))
    before = OrderRows.rendered
    answers = [await _run(COMPILED, page, text) for _ in range(3)]
    assert OrderRows.rendered > before
    assert answers[-1] == await _run(GENERIC, page, text)
    order = answers[-1]["data"]["customerOrders"]["items"][0]
    assert order["items"] == [
        {"productId": "beans", "price": "12.50", "lineTotal": "12.50"},
        {"productId": "papers", "price": "0.99", "lineTotal": "0.99"},
    ]
    assert order["again"] == [{"lineTotal": "12.50", "__typename": "OrderItem"}, {"lineTotal": "0.99", "__typename": "OrderItem"}]
    assert str(Decimal(row["total_amount"])) == order["totalAmount"]
