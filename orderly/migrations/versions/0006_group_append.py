"""Group commit: on PostgreSQL, `orderly_append_batch` appends many commands in one transaction.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
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
    total integer := jsonb_array_length(p_commands);
    streams text[];
    cids text[];
    expecteds integer[];
    counts integer[];
    known_streams text[];
    known_versions integer[];
    stored_ids text[];
    taken_ids text[] := '{{}}';
    accepted integer[] := '{{}}';
    outcomes text[] := array_fill(NULL::text, ARRAY[total]);
    actuals integer[] := array_fill(NULL::integer, ARRAY[total]);
    firsts bigint[] := array_fill(NULL::bigint, ARRAY[total]);
    lasts bigint[] := array_fill(NULL::bigint, ARRAY[total]);
    versions integer[] := array_fill(NULL::integer, ARRAY[total]);
    i integer;
    slot integer;
    item record;
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'orderly_append_batch must be the first write of its transaction'
            USING ERRCODE = 'OR001';
    END IF;
    IF total = 0 THEN
        RETURN;
    END IF;

    -- The batch is read once into arrays (a jsonb read element by element is detoasted each time).
    SELECT array_agg(c.doc ->> 'stream_id' ORDER BY c.n), array_agg(c.doc ->> 'command_id' ORDER BY c.n),
           array_agg((c.doc ->> 'expected_version')::integer ORDER BY c.n),
           array_agg(jsonb_array_length(c.doc -> 'events') ORDER BY c.n)
        INTO streams, cids, expecteds, counts
        FROM jsonb_array_elements(p_commands) WITH ORDINALITY AS c (doc, n);

    -- One statement takes them all, in the sorted subquery's order.
    PERFORM pg_advisory_xact_lock(k.class, k.key)
        FROM (
            SELECT DISTINCT {COMMAND_LOCK_CLASS} AS class, hashtext(x) AS key FROM unnest(cids) AS x
            UNION
            SELECT DISTINCT {STREAM_LOCK_CLASS}, hashtext(x) FROM unnest(streams) AS x
            ORDER BY 1, 2
            OFFSET 0
        ) AS k;

    -- Under the locks: every stream's version and the command ids already stored, in two reads.
    SELECT array_agg(s.stream), array_agg(s.version) INTO known_streams, known_versions
        FROM (
            SELECT x AS stream, (SELECT coalesce(max(e.version), 0) FROM events AS e WHERE e.stream_id = x) AS version
            FROM (SELECT DISTINCT x FROM unnest(streams) AS x) AS d
        ) AS s;
    SELECT coalesce(array_agg(k.command_id), '{{}}') INTO stored_ids FROM commands AS k WHERE k.command_id = ANY(cids);

    FOR i IN 1 .. total LOOP
        slot := array_position(known_streams, streams[i]);
        IF known_versions[slot] <> expecteds[i] THEN
            outcomes[i] := 'conflict';
            actuals[i] := known_versions[slot];
        ELSIF cids[i] = ANY(taken_ids) OR cids[i] = ANY(stored_ids) THEN
            outcomes[i] := 'duplicate';
        ELSE
            outcomes[i] := 'appended';
            known_versions[slot] := known_versions[slot] + counts[i];
            taken_ids := taken_ids || cids[i];
            accepted := accepted || i;
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
                           expecteds[c.n] + e.i::integer, e.doc ->> 'type_name',
                           (e.doc ->> 'schema_version')::integer, e.doc -> 'data',
                           (e.doc ->> 'occurred_at')::timestamptz, c.doc ->> 'command_id'
                    FROM jsonb_array_elements(p_commands) WITH ORDINALITY AS c (doc, n)
                    CROSS JOIN LATERAL jsonb_array_elements(c.doc -> 'events') WITH ORDINALITY AS e (doc, i)
                    WHERE c.n = ANY(accepted)
                    ORDER BY c.n, e.i
                    RETURNING ev.command_id, ev.position, ev.version
                )
                -- Accepted command ids are unique in the batch: each names one command.
                SELECT array_position(cids, i.command_id) AS n, min(i.position) AS first,
                       max(i.position) AS last, max(i.version) AS version
                FROM inserted AS i GROUP BY i.command_id
            LOOP
                firsts[item.n] := item.first;
                lasts[item.n] := item.last;
                versions[item.n] := item.version;
            END LOOP;
            PERFORM pg_advisory_unlock({APPEND_LOCK_KEY});
        EXCEPTION WHEN OTHERS OR query_canceled THEN
            PERFORM pg_advisory_unlock({APPEND_LOCK_KEY});
            RAISE;
        END;

        INSERT INTO commands (command_id, command_type, fingerprint, stream_id, version, "position")
        SELECT cids[c.n], c.doc ->> 'command_type', c.doc ->> 'fingerprint', streams[c.n], versions[c.n], lasts[c.n]
        FROM jsonb_array_elements(p_commands) WITH ORDINALITY AS c (doc, n)
        WHERE c.n = ANY(accepted);
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
