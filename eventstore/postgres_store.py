"""The event store on PostgreSQL: appends and tails the log through the raw asyncpg pool.

Global order that a tailing reader can trust
--------------------------------------------
Positions come from an identity, but transactions commit in any order: a reader that
takes `position > checkpoint` could see position 11 before 10 commits, move its
checkpoint past 10 and never read it.

(SQLite has one writer at a time, so positions commit in order there: sqlite_store.py.)

On PostgreSQL read_log returns a prefix of the visible rows after the checkpoint, in
position order, and stops before the first row that a transaction still running could
yet precede. A row is safe when either holds:

- its position follows the previous row's directly (the first row: the checkpoint's).
  Positions are unique, so when every position up to N is visible no row that commits
  later can take one of them. This is the common case, and it waits for nothing.
- its transaction is older than every transaction still running: every event row stores
  its transaction's id (`tx_id xid8`) and the test is `tx_id < pg_snapshot_xmin(
  pg_current_snapshot())`, in the same statement as the read so both use one snapshot.
  Appends go through the `orderly_append` function (migration 0001), which takes a
  global advisory lock, gets the transaction's xid and inserts the rows (taking
  positions) before it releases the lock, all before COMMIT; among appending
  transactions xid order is therefore position order, so a row that passes this test
  cannot be overtaken by one still uncommitted. This rule is what lets the read pass a
  gap that will never fill (an append that rolled back after taking its positions).

Only the second rule waits for other transactions, and it waits for *every* transaction
on the server that holds an xid, in any database (a CREATE DATABASE, a vacuum's ANALYZE,
the other projection's commit, a batch job): when read_log relied on it alone, each of
those stalled every projection for as long as it ran. With the first rule it matters
only at a gap: an append whose lower position commits after a higher one (until it
commits), or one that rolled back (until the transactions older than its successor end).
The lock covers only the insert, not the commit, so commits and their fsyncs still
overlap. A long-running transaction anywhere on the server can still hold a read back
at a gap (projections lag; nothing is lost).
"""

from __future__ import annotations

from typing import Any

import orjson

from domain.ports import CommandStamp, RecordedEvent
from eventstore.bus import NotificationBus
from eventstore.database import Database, is_unavailable
from eventstore.sql_store import BeforeCommit, SqlEventStore, recorded_from_json, unavailable

# Raw SQL for the raw pool; the document comes as text (decoded from it: sql_store.recorded_from_json). `safe` is the module
# docstring's two rules; the running bool_and cuts the answer at the first row that
# passes neither, so it is always a prefix.
_SAFE_TO_TAIL = (
    '"position" = coalesce(lag("position") OVER (ORDER BY "position"), $1) + 1 OR tx_id < pg_snapshot_xmin(pg_current_snapshot())'
)
_READ_LOG = f"""
    SELECT "position", event_id, stream_id, stream_type, version, type_name, schema_version,
           data::text AS data, occurred_at, recorded_at, command_id
    FROM (
        SELECT *, bool_and(safe) OVER (ORDER BY "position") AS prefix
        FROM (
            SELECT *, {_SAFE_TO_TAIL} AS safe
            FROM (SELECT * FROM events WHERE "position" > $1 ORDER BY "position" LIMIT $2) AS visible
        ) AS checked
    ) AS cut
    WHERE prefix
    ORDER BY "position"
"""
# One statement, so an append is one round trip: the function writes the events, then
# the commands row is inserted after it returned (and released its lock).
# $1 stream_id, $2 stream_type, $3 expected_version, $4 command_id, $5 command_type,
# $6 fingerprint, $7 the event documents as JSON text.
_APPEND = """
    WITH appended AS (
        SELECT a."position", a.version
        FROM orderly_append($1, $2, $3, $4, $7::JSONB) AS a
    ), summary AS (
        SELECT min("position") AS first_position, max("position") AS last_position, max(version) AS version
        FROM appended
    ), recorded AS (
        INSERT INTO commands (command_id, command_type, fingerprint, stream_id, version, "position")
        SELECT $4, $5, $6, $1, summary.version, summary.last_position
        FROM summary
        RETURNING version
    )
    SELECT summary.first_position, summary.last_position, recorded.version FROM summary, recorded
"""


class PostgresEventStore(SqlEventStore):
    """Appends and tails on the raw asyncpg pool (see the module docstring for ordering)."""

    def __init__(
        self,
        database: Database,
        bus: NotificationBus | None = None,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> None:
        # Single-statement reads need no BEGIN/COMMIT round trips.
        super().__init__(database, bus, database.engine.execution_options(isolation_level="AUTOCOMMIT"))
        # Test hook: awaited after the append statement, before its COMMIT (the append
        # then runs in an explicit transaction), to widen race windows. Production
        # leaves it unset and the one statement autocommits.
        self._before_commit = before_commit

    async def read_log(self, after: int, limit: int) -> list[RecordedEvent]:
        """Events after `after` in position order, only those no later commit can precede; undecodable ones unreadable."""
        # The projectors' hot path: the raw pool, as appends (see Database.raw_pool).
        try:
            pool = await self._database.raw_pool()
            records = await pool.fetch(_READ_LOG, after, limit)
        except Exception as error:
            if is_unavailable(error):
                raise unavailable() from error
            raise
        return [recorded_from_json(record) for record in records]

    async def _write(
        self,
        stream_id: str,
        stream_type: str,
        documents: list[dict[str, Any]],
        expected_version: int,
        command: CommandStamp,
    ) -> tuple[int, int, int]:
        arguments = (
            stream_id,
            stream_type,
            expected_version,
            command.command_id,
            command.command_type,
            command.fingerprint,
            orjson.dumps(documents).decode(),
        )
        pool = await self._database.raw_pool()
        async with pool.acquire() as connection:
            if self._before_commit is None:
                row = await connection.fetchrow(_APPEND, *arguments)
            else:
                async with connection.transaction():
                    row = await connection.fetchrow(_APPEND, *arguments)
                    await self._before_commit()
        assert row is not None
        return int(row["first_position"]), int(row["last_position"]), int(row["version"])
