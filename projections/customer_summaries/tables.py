"""customer_summaries and the per-order facts it folds from (both owned by this projection)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, PrimaryKeyConstraint, String, Table, Text

from domain.limits import MAX_ID_LENGTH
from projections.read_models import KeyedSelect
from projections.tables import STATUS_LENGTH, UtcDateTime, metadata

customer_summaries = Table(
    "customer_summaries",
    metadata,
    Column("customer_id", String(MAX_ID_LENGTH), nullable=False),
    Column("order_count", Integer, nullable=False),
    Column("open_order_count", Integer, nullable=False),
    Column("shipped_order_count", Integer, nullable=False),
    Column("cancelled_order_count", Integer, nullable=False),
    # sum of the totals of orders that are not cancelled: exact text, and minor units
    Column("lifetime_value", Text, nullable=False),
    Column("lifetime_minor", BigInteger, nullable=False),
    Column("last_order_at", UtcDateTime, nullable=True),
    Column("position", BigInteger, nullable=False),
    PrimaryKeyConstraint("customer_id", name="pk_customer_summaries"),
)

# What the summary needs to know about each order to move it between counts and totals.
customer_order_facts = Table(
    "customer_order_facts",
    metadata,
    Column("order_id", String(MAX_ID_LENGTH), nullable=False),
    Column("customer_id", String(MAX_ID_LENGTH), nullable=False),
    Column("status", String(STATUS_LENGTH), nullable=False),
    Column("total_amount", Text, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("order_id", name="pk_customer_order_facts"),
)

# A summary as the projector folds it and the API shows it (all but the sort helper), and an
# order's facts as the projector reads them back.
SUMMARY_ROW = KeyedSelect.of(customer_summaries, "customer_id", without=("lifetime_minor",))
FACT_ROW = KeyedSelect.of(customer_order_facts, "order_id", without=("total_minor",))
