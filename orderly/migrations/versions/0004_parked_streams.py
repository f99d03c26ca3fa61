"""Parked streams: per projection, a stream held back at an event the projector could not apply.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create parked_streams."""
    op.create_table(
        "parked_streams",
        sa.Column("projection", sa.String(100), nullable=False),
        sa.Column("stream_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parked_at", TIMESTAMP, nullable=False),
        sa.Column("request", sa.String(16), nullable=True),
        sa.Column("requested_at", TIMESTAMP, nullable=True),
        sa.Column("released_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("projection", "stream_id", name="pk_parked_streams"),
    )


def downgrade() -> None:
    """Drop parked_streams."""
    op.drop_table("parked_streams")
