"""Read models: projection checkpoints, order_views, customer_summaries and their facts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(100)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the read-model tables and their indexes (a trigram index on PostgreSQL)."""
    op.create_table(
        "projection_checkpoints",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_projection_checkpoints"),
    )
    op.create_table(
        "order_views",
        sa.Column("order_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("total_amount", sa.Text(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("shipping_address", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("shipped_at", TIMESTAMP, nullable=True),
        sa.Column("cancelled_at", TIMESTAMP, nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_order_views"),
    )
    op.create_index(
        "ix_order_views_customer_created",
        "order_views",
        ["customer_id", sa.text("created_at DESC"), "order_id"],
    )
    op.create_index("ix_order_views_status", "order_views", ["status"])
    op.create_index("ix_order_views_created_at", "order_views", ["created_at"])
    op.create_index("ix_order_views_total_minor", "order_views", ["total_minor"])
    op.create_index("ix_order_views_item_count", "order_views", ["item_count"])
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_order_views_search_trgm",
            "order_views",
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )
    op.create_table(
        "customer_summaries",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("open_order_count", sa.Integer(), nullable=False),
        sa.Column("shipped_order_count", sa.Integer(), nullable=False),
        sa.Column("cancelled_order_count", sa.Integer(), nullable=False),
        sa.Column("lifetime_value", sa.Text(), nullable=False),
        sa.Column("lifetime_minor", sa.BigInteger(), nullable=False),
        sa.Column("last_order_at", TIMESTAMP, nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_summaries"),
    )
    op.create_table(
        "customer_order_facts",
        sa.Column("order_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total_amount", sa.Text(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_customer_order_facts"),
    )


def downgrade() -> None:
    """Drop the read models (the pg_trgm extension stays: other objects may use it)."""
    op.drop_table("customer_order_facts")
    op.drop_table("customer_summaries")
    op.drop_index("ix_order_views_search_trgm", table_name="order_views", if_exists=True)
    op.drop_index("ix_order_views_item_count", table_name="order_views")
    op.drop_index("ix_order_views_total_minor", table_name="order_views")
    op.drop_index("ix_order_views_created_at", table_name="order_views")
    op.drop_index("ix_order_views_status", table_name="order_views")
    op.drop_index("ix_order_views_customer_created", table_name="order_views")
    op.drop_table("order_views")
    op.drop_table("projection_checkpoints")
