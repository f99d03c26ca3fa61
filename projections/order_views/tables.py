"""The order_views table: one row per order."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text, text

from domain.limits import MAX_ID_LENGTH
from domain.values import OrderStatus
from projections.read_models import KeyedSelect
from projections.tables import STATUS_LENGTH, UtcDateTime, metadata

order_views = Table(
    "order_views",
    metadata,
    Column("order_id", String(MAX_ID_LENGTH), nullable=False),
    Column("customer_id", String(MAX_ID_LENGTH), nullable=False),
    Column("status", String(STATUS_LENGTH), nullable=False),
    # [{"product_id": str, "quantity": int, "price": str}], prices as exact decimal text
    Column("items", JSON, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("total_amount", Text, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    # {"line1", "line2", "city", "postal_code", "country"}
    Column("shipping_address", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("shipped_at", UtcDateTime, nullable=True),
    Column("cancelled_at", UtcDateTime, nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
    # casefolded order id, customer id, product ids and address fields, space-separated
    Column("search_text", Text, nullable=False),
    PrimaryKeyConstraint("order_id", name="pk_order_views"),
)

Index(
    "ix_order_views_customer_created",
    order_views.c.customer_id,
    order_views.c.created_at.desc(),
    order_views.c.order_id,
)
Index("ix_order_views_status", order_views.c.status)
Index("ix_order_views_created_at", order_views.c.created_at)
Index("ix_order_views_total_minor", order_views.c.total_minor)
Index("ix_order_views_item_count", order_views.c.item_count)
# The search indexes on PostgreSQL: `search_text LIKE '%term%'` through trigrams (pg_trgm), one
# partial index per status (migration 0008). A search filtered by status reads only its status's
# index, whose posting lists hold a third of the rows or less: the statement names the status as
# a literal (projections/order_views/queries.py), so even a prepared statement's generic plan
# matches the index's predicate. A search without a status asks for "any status" spelled as an OR
# of every status, which PostgreSQL answers with a BitmapOr over the three. Each row version is in
# exactly one of them: the projector's writes cost what the one (status, search_text) index did.
SEARCH_INDEXES: dict[OrderStatus, Index] = {
    status: Index(
        f"ix_order_views_search_{status.value.lower()}",
        order_views.c.search_text,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        postgresql_where=text(f"status = '{status.value}'"),
    )
    for status in OrderStatus
}
for _index in SEARCH_INDEXES.values():
    _index.ddl_if(dialect="postgresql")

# An order's row as the projector folds it and the API shows it: all but the sort and search helpers.
ORDER_ROW = KeyedSelect.of(order_views, "order_id", without=("total_minor", "search_text"))
