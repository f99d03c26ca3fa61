"""The event store: events, commands and, on PostgreSQL, the ordered append function.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Keys of the advisory locks taken by orderly_append. The global append lock uses the
# one-bigint key space, the per-stream locks the (int4, int4) space; PostgreSQL keeps the
# two spaces apart, so a stream hash can never collide with the global key.
APPEND_LOCK_KEY = 7_245_311_001
STREAM_LOCK_CLASS = 72_453

# Why this function exists (eventstore/postgres_store.py calls it and reads the log):
#
# A reader tails the log with `position > checkpoint AND tx_id < xmin of its snapshot`:
# it takes only events written by transactions that had finished when its statement
# began. That is not enough on its own, because getting an xid and taking identity
# values are separate steps: B can get its xid before A and yet take the larger
# position (pos_A < pos_B). If B commits while A is still running, B's xid is below the
# horizon, the reader takes pos_B and moves its checkpoint past pos_A; when A commits,
# its event is never read.
#
# So every append takes a session-level advisory lock, forces xid assignment, inserts
# its rows (taking positions) and releases the lock, all before COMMIT. Among appending
# transactions xid order is then position order, and "xid below the horizon" selects
# exactly a prefix of the committed log. Commits (and their fsyncs) stay concurrent,
# unlike LOCK TABLE held until commit. (read_log also takes an event whose position
# directly follows the previous one without asking the horizon, so that it does not wait
# behind unrelated transactions; the horizon rule is what passes a gap: postgres_store.py.)
#
# - The guard refuses a transaction that already has an xid (it was assigned outside the
#   lock, so its order is unknown); this also limits a transaction to one append.
# - The per-stream transaction lock is taken first, outside the global lock, and the
#   version is checked under it: a second writer of the same stream waits there (until
#   the first commits) and fails fast, instead of waiting on the unique index while
#   holding the global lock, which would stall every writer behind one commit.
# - The global lock is released on every error, including query_canceled (which WHEN
#   OTHERS does not catch: a client timeout would otherwise leave the pooled session
#   holding the lock forever). A session that dies releases it as well.
# - The identity must keep CACHE 1 (per-session caches hand out positions out of order).
APPEND_FUNCTION = f"""
CREATE FUNCTION orderly_append(
    p_stream_id text,
    p_stream_type text,
    p_expected_version integer,
    p_command_id text,
    p_events jsonb
) RETURNS TABLE ("position" bigint, version integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    current_version integer;
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'orderly_append must be the first write of its transaction'
            USING ERRCODE = 'OR001';
    END IF;

    PERFORM pg_advisory_xact_lock({STREAM_LOCK_CLASS}, hashtext(p_stream_id));
    SELECT coalesce(max(e.version), 0) INTO current_version
        FROM events AS e WHERE e.stream_id = p_stream_id;
    IF current_version <> p_expected_version THEN
        RAISE EXCEPTION 'stream % is at version %, expected %',
                p_stream_id, current_version, p_expected_version
            USING ERRCODE = 'OR409', DETAIL = current_version::text;
    END IF;

    PERFORM pg_advisory_lock({APPEND_LOCK_KEY});
    BEGIN
        PERFORM pg_current_xact_id();
        RETURN QUERY
            INSERT INTO events AS ev (
                event_id, stream_id, stream_type, version, type_name, schema_version,
                data, occurred_at, command_id
            )
            SELECT item.doc ->> 'event_id', p_stream_id, p_stream_type,
                   p_expected_version + item.n::integer, item.doc ->> 'type_name',
                   (item.doc ->> 'schema_version')::integer, item.doc -> 'data',
                   (item.doc ->> 'occurred_at')::timestamptz, p_command_id
            FROM jsonb_array_elements(p_events) WITH ORDINALITY AS item (doc, n)
            ORDER BY item.n
            RETURNING ev.position, ev.version;
        PERFORM pg_advisory_unlock({APPEND_LOCK_KEY});
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM pg_advisory_unlock({APPEND_LOCK_KEY});
        RAISE;
    END;
END
$$
"""


def upgrade() -> None:
    """Create events, commands and (PostgreSQL) the tx_id column and append function."""
    is_postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=True, start=1),
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("stream_id", sa.String(100), nullable=False),
        sa.Column("stream_type", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type_name", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")),
        sa.Column("command_id", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sa.UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "commands",
        sa.Column("command_id", sa.String(100), nullable=False),
        sa.Column("command_type", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("stream_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")),
        sa.PrimaryKeyConstraint("command_id", name="pk_commands"),
    )
    if is_postgres:
        # No index on tx_id: readers scan by position (the primary key) and filter tx_id
        # on the rows past their checkpoint.
        op.execute("ALTER TABLE events ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id()")
        op.execute(APPEND_FUNCTION)


def downgrade() -> None:
    """Drop the event store."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS orderly_append(text, text, integer, text, jsonb)")
    op.drop_table("commands")
    op.drop_table("events")
