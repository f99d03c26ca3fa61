"""Group commit: on PostgreSQL, `orderly_append_batch` appends many commands in one transaction.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The same keys as orderly_append (migration 0001), so that both functions exclude each
# other on a stream and share the one global append lock; command ids get a class of their own.
APPEND_LOCK_KEY = 7_245_311_001
STREAM_LOCK_CLASS = 72_453
COMMAND_LOCK_CLASS = 72_454

# Why a PL/pgSQL function and not savepoints: one statement per batch (one round trip),
# no subtransaction per command, and each command is judged by plain checks, so a failing
# command never aborts the others. The ordering argument is orderly_append's (0001 and
# eventstore/postgres_store.py): the batch takes the global lock, forces its xid and inserts
# every accepted event in one INSERT (positions in batch order), then releases the lock,
# all before COMMIT. What changes is that one lock hand-over and one commit (one WAL flush)
# now serve the whole batch instead of each single-event command.
#
# Per command, in batch order, with the same order of checks as the single append
# (the version first, then the command id):
# - 'conflict': the stream's version (as the commands before it in the batch leave it)
#   differs from the expected one; actual_version says what it is.
# - 'duplicate': the command id is already stored, or an earlier command of this batch
#   has it.
# - 'appended': first/last position and the stream's new version.
#
# Locks, all taken before any check, in one order (command ids, then streams, each by
# key; then the global lock) so that two batches cannot deadlock:
# - a command-id lock per command, held to COMMIT: a twin in another batch waits here
#   and then sees the committed commands row, instead of failing the whole batch on the
#   primary key;
# - a stream lock per stream, held to COMMIT, as in orderly_append: the version read
#   under it cannot change before the insert.
# The global lock is released on every error, including query_canceled.
APPEND_BATCH_FUNCTION = f"""
CREATE FUNCTION orderly_append_batch(p_commands jsonb)
RETURNS TABLE (command_index integer, outcome text, actual_version integer,
               first_position bigint, last_position bigint, new_version integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    lock_key integer;
    item record;
    total integer := jsonb_array_length(p_commands);
    outcomes text[] := array_fill(NULL::text, ARRAY[total]);
    actuals integer[] := array_fill(NULL::integer, ARRAY[total]);
    firsts bigint[] := array_fill(NULL::bigint, ARRAY[total]);
    lasts bigint[] := array_fill(NULL::bigint, ARRAY[total]);
    versions integer[] := array_fill(NULL::integer, ARRAY[total]);
    stream_versions jsonb := '{{}}';
    taken_ids text[] := '{{}}';
    accepted integer[] := '{{}}';
    current_version integer;
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'orderly_append_batch must be the first write of its transaction'
            USING ERRCODE = 'OR001';
    END IF;

    FOR lock_key IN
        SELECT DISTINCT hashtext(c ->> 'command_id') FROM jsonb_array_elements(p_commands) AS c ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock({COMMAND_LOCK_CLASS}, lock_key);
    END LOOP;
    FOR lock_key IN
        SELECT DISTINCT hashtext(c ->> 'stream_id') FROM jsonb_array_elements(p_commands) AS c ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock({STREAM_LOCK_CLASS}, lock_key);
    END LOOP;

    FOR item IN
        SELECT c.n::integer AS n, c.doc ->> 'stream_id' AS stream, (c.doc ->> 'expected_version')::integer AS expected,
               c.doc ->> 'command_id' AS cid, jsonb_array_length(c.doc -> 'events') AS count
        FROM jsonb_array_elements(p_commands) WITH ORDINALITY AS c (doc, n)
        ORDER BY c.n
    LOOP
        IF stream_versions ? item.stream THEN
            current_version := (stream_versions ->> item.stream)::integer;
        ELSE
            SELECT coalesce(max(e.version), 0) INTO current_version FROM events AS e WHERE e.stream_id = item.stream;
        END IF;
        IF current_version <> item.expected THEN
            outcomes[item.n] := 'conflict';
            actuals[item.n] := current_version;
        ELSIF item.cid = ANY(taken_ids) OR EXISTS (SELECT 1 FROM commands AS k WHERE k.command_id = item.cid) THEN
            outcomes[item.n] := 'duplicate';
        ELSE
            outcomes[item.n] := 'appended';
            stream_versions := stream_versions || jsonb_build_object(item.stream, current_version + item.count);
            taken_ids := taken_ids || item.cid;
            accepted := accepted || item.n;
        END IF;
    END LOOP;

    IF cardinality(accepted) > 0 THEN
        PERFORM pg_advisory_lock({APPEND_LOCK_KEY});
        BEGIN
            PERFORM pg_current_xact_id();
            FOR item IN
                WITH inserted AS (
                    INSERT INTO events AS ev (
                        event_id, stream_id, stream_type, version, type_name, schema_version,
                        data, occurred_at, command_id
                    )
                    SELECT e.doc ->> 'event_id', c.doc ->> 'stream_id', c.doc ->> 'stream_type',
                           (c.doc ->> 'expected_version')::integer + e.i::integer, e.doc ->> 'type_name',
                           (e.doc ->> 'schema_version')::integer, e.doc -> 'data',
                           (e.doc ->> 'occurred_at')::timestamptz, c.doc ->> 'command_id'
                    FROM unnest(accepted) WITH ORDINALITY AS a (n, k)
                    CROSS JOIN LATERAL (SELECT p_commands -> (a.n - 1) AS doc) AS c
                    CROSS JOIN LATERAL jsonb_array_elements(c.doc -> 'events') WITH ORDINALITY AS e (doc, i)
                    ORDER BY a.k, e.i
                    RETURNING ev.command_id, ev.position, ev.version
                )
                SELECT i.command_id AS cid, min(i.position) AS first, max(i.position) AS last, max(i.version) AS version
                FROM inserted AS i GROUP BY i.command_id
            LOOP
                -- Accepted command ids are unique in the batch: each names one command.
                FOR lock_key IN SELECT a.n FROM unnest(accepted) AS a (n)
                    WHERE p_commands -> (a.n - 1) ->> 'command_id' = item.cid
                LOOP
                    firsts[lock_key] := item.first;
                    lasts[lock_key] := item.last;
                    versions[lock_key] := item.version;
                END LOOP;
            END LOOP;
            PERFORM pg_advisory_unlock({APPEND_LOCK_KEY});
        EXCEPTION WHEN OTHERS OR query_canceled THEN
            PERFORM pg_advisory_unlock({APPEND_LOCK_KEY});
            RAISE;
        END;

        INSERT INTO commands (command_id, command_type, fingerprint, stream_id, version, "position")
        SELECT c.doc ->> 'command_id', c.doc ->> 'command_type', c.doc ->> 'fingerprint', c.doc ->> 'stream_id',
               versions[a.n], lasts[a.n]
        FROM unnest(accepted) AS a (n)
        CROSS JOIN LATERAL (SELECT p_commands -> (a.n - 1) AS doc) AS c;
    END IF;

    RETURN QUERY
        SELECT s.n::integer, outcomes[s.n], actuals[s.n], firsts[s.n], lasts[s.n], versions[s.n]
        FROM generate_series(1, total) AS s (n);
END
$$
"""


def upgrade() -> None:
    """Create the batch append function (PostgreSQL; SQLite appends one command at a time)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_BATCH_FUNCTION)


def downgrade() -> None:
    """Drop the batch append function."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS orderly_append_batch(jsonb)")
