"""Read-model generations: the tables become `<table>__g1`, their logical names views of them.

Each checkpoint row gains the generation its rows live in and the projector version that
filled them (both 1 for what exists), and a rebuild's progress (when it started, from where).
Index and primary-key names stay as they were: generation 1 keeps them (projections/generations.py).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The read models' columns at this revision, as their views list them.
COLUMNS = {
    "order_views": (
        "order_id",
        "customer_id",
        "status",
        "items",
        "item_count",
        "total_amount",
        "total_minor",
        "shipping_address",
        "created_at",
        "shipped_at",
        "cancelled_at",
        "cancel_reason",
        "version",
        "position",
        "search_text",
    ),
    "customer_summaries": (
        "customer_id",
        "order_count",
        "open_order_count",
        "shipped_order_count",
        "cancelled_order_count",
        "lifetime_value",
        "lifetime_minor",
        "last_order_at",
        "position",
    ),
    "customer_order_facts": ("order_id", "customer_id", "status", "total_amount", "total_minor", "version"),
}


# Each view's key: PostgreSQL reports no primary key for a view, so introspecting tools (the bench's
# PostGraphile baseline: `orderViewByOrderId`) read it from this smart comment. It survives the
# CREATE OR REPLACE VIEW of a switch.
KEYS = {"order_views": "order_id", "customer_summaries": "customer_id", "customer_order_facts": "order_id"}


def _view(name: str, physical: str) -> str:
    listed = ", ".join(f'"{column}"' for column in COLUMNS[name])
    return f'CREATE VIEW "{name}" AS SELECT {listed} FROM "{physical}"'


def upgrade() -> None:
    """Rename each read-model table to generation 1 and put a view in its place."""
    with op.batch_alter_table("projection_checkpoints") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("start_position", sa.BigInteger(), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in COLUMNS:
        op.rename_table(name, f"{name}__g1")
        op.execute(_view(name, f"{name}__g1"))
        if postgres:
            op.execute(f"COMMENT ON VIEW \"{name}\" IS E'@primaryKey {KEYS[name]}'")


def downgrade() -> None:
    """Back to plain tables: the live generation's, whichever it is, under the logical names."""
    bind = op.get_bind()
    live: dict[str, int] = dict(bind.execute(sa.text("SELECT name, generation FROM projection_checkpoints")).all())
    owners = {
        "order_views": "order_views",
        "customer_summaries": "customer_summaries",
        "customer_order_facts": "customer_summaries",
    }
    for name, owner in owners.items():
        op.execute(f'DROP VIEW "{name}"')
        op.rename_table(f"{name}__g{live.get(owner, 1)}", name)
    with op.batch_alter_table("projection_checkpoints") as batch:
        batch.drop_column("start_position")
        batch.drop_column("started_at")
        batch.drop_column("version")
        batch.drop_column("generation")
