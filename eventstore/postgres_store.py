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
  Appends go through the `orderly_append_batch` function (migration 0006; one call
  carries a batch of commands, see group_commit.py), which takes a global advisory
  lock, gets the transaction's xid and inserts the batch's rows (taking positions)
  before it releases the lock, all before COMMIT; among appending transactions xid
  order is therefore position order, so a row that passes this test cannot be
  overtaken by one still uncommitted. This rule is what lets the read pass a
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

Group commit (group_commit.py) makes it one lock hand-over and one commit (one WAL
flush) per batch of commands instead of per command: with 16 writers on 2 cores, the
lock handed between 16 backends for every single-event commit was what held appends
to about half the rate of plain unordered inserts. A batch is one transaction, so a
batch that fails on the database's side (the connection or the server dies) writes
none of its commands and answers each of them SERVICE_UNAVAILABLE; nothing is
acknowledged before the statement (and with it the COMMIT) has returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from domain.errors import ConcurrencyConflictError, DuplicateCommandError
from domain.ports import CommandStamp, RecordedEvent
from eventstore.bus import NotificationBus
from eventstore.database import Database, is_unavailable
from eventstore.group_commit import GroupCommit
from eventstore.metrics import observe_append_batch
from eventstore.sql_store import BeforeCommit, SqlEventStore, recorded_from_json, unavailable

# Raw SQL for the raw pool; the document comes as text (decoded from it: sql_store.recorded_from_json).
# `old` is the module docstring's second rule, evaluated in the statement (one snapshot for the
# read and the horizon); safe_prefix applies both rules and cuts the answer at the first row that
# passes neither. The cut used to be made here with two window functions (lag, a running
# bool_and) over the full rows: 50,000 rows cost 200-290 ms of server CPU that way, 120-160 ms
# this way, where the loop in safe_prefix takes a few ms.
_READ_LOG = """
    SELECT "position", event_id, stream_id, stream_type, version, type_name, schema_version,
           data::text AS data, occurred_at, recorded_at, command_id,
           tx_id < pg_snapshot_xmin(pg_current_snapshot()) AS old
    FROM events WHERE "position" > $1 ORDER BY "position" LIMIT $2
"""
# One statement per batch of appends (group_commit.py): the function checks and writes
# every command of the batch and reports per command (migration 0006 explains it).
_APPEND_BATCH = "SELECT * FROM orderly_append_batch($1::JSONB) ORDER BY command_index"
# Commands per call: bounds the statement and the advisory locks one transaction holds
# (two per command; the server's lock table has room for max_locks_per_transaction x
# max_connections).
MAX_BATCH = 64
# Data exceptions and integrity violations: a value of one command the tables refuse.
_COMMAND_FAULT_SQLSTATE_CLASSES = ("22", "23")


@dataclass(frozen=True, slots=True)
class PendingAppend:
    """One command's append waiting for its batch."""

    stream_id: str
    stream_type: str
    documents: list[dict[str, Any]]
    expected_version: int
    command: CommandStamp

    def as_json(self) -> dict[str, Any]:
        """The command as orderly_append_batch reads it."""
        return {
            "stream_id": self.stream_id,
            "stream_type": self.stream_type,
            "expected_version": self.expected_version,
            "command_id": self.command.command_id,
            "command_type": self.command.command_type,
            "fingerprint": self.command.fingerprint,
            "events": self.documents,
        }


Written = tuple[int, int, int]  # first position, last position, new version


class PostgresEventStore(SqlEventStore):
    """Appends and tails on the raw asyncpg pool (see the module docstring for ordering)."""

    def __init__(
        self,
        database: Database,
        bus: NotificationBus | None = None,
        *,
        before_commit: BeforeCommit | None = None,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = 1,
    ) -> None:
        # Single-statement reads need no BEGIN/COMMIT round trips.
        super().__init__(database, bus, database.engine.execution_options(isolation_level="AUTOCOMMIT"))
        # Test hook: awaited after the append statement, before its COMMIT (the batch
        # then runs in an explicit transaction), to widen race windows. Production
        # leaves it unset and the one statement autocommits.
        self._before_commit = before_commit
        self._group: GroupCommit[PendingAppend, Written] = GroupCommit(
            self._append_batch, max_batch=max_batch, max_in_flight=max_in_flight, observe_batch=observe_append_batch
        )

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
        return [recorded_from_json(record) for record in safe_prefix(records, after)]

    async def _write(
        self,
        stream_id: str,
        stream_type: str,
        documents: list[dict[str, Any]],
        expected_version: int,
        command: CommandStamp,
    ) -> Written:
        return await self._group.submit(PendingAppend(stream_id, stream_type, documents, expected_version, command))

    async def _append_batch(self, batch: list[PendingAppend]) -> list[Written | Exception]:
        """Each command's outcome; an error of the whole call (the database is gone) fails them all."""
        try:
            return await self._call(batch)
        except Exception as error:
            if len(batch) == 1 or not _a_command_at_fault(error):
                raise
        # A data or constraint error is one command's (a value the table refuses): run each
        # alone so that it fails on its own and the others go through.
        outcomes: list[Written | Exception] = []
        for pending in batch:
            try:
                outcomes.extend(await self._call([pending]))
            except Exception as error:
                outcomes.append(error)
        return outcomes

    async def _call(self, batch: list[PendingAppend]) -> list[Written | Exception]:
        payload = orjson.dumps([pending.as_json() for pending in batch]).decode()
        pool = await self._database.raw_pool()
        async with pool.acquire() as connection:
            if self._before_commit is None:
                rows = await connection.fetch(_APPEND_BATCH, payload)
            else:
                async with connection.transaction():
                    rows = await connection.fetch(_APPEND_BATCH, payload)
                    await self._before_commit()
        return [_outcome(row, pending) for row, pending in zip(rows, batch, strict=True)]


def safe_prefix(records: Sequence[Any], after: int) -> Sequence[Any]:
    """The rows of a read after `after` up to the first one that is not safe to tail (module docstring):
    safe when its position follows the previous row's (the first row: after's), or it is `old`."""
    expected = after + 1
    for index, record in enumerate(records):
        position = record["position"]
        if position != expected and not record["old"]:
            return records[:index]
        expected = position + 1
    return records


def _a_command_at_fault(error: Exception) -> bool:
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_COMMAND_FAULT_SQLSTATE_CLASSES)


def _outcome(row: Any, pending: PendingAppend) -> Written | Exception:
    """What one command of a batch came to: its positions and version, or its own error."""
    outcome = row["outcome"]
    if outcome == "appended":
        return int(row["first_position"]), int(row["last_position"]), int(row["new_version"])
    if outcome == "conflict":
        return ConcurrencyConflictError(
            pending.stream_id, expected=pending.expected_version, actual=int(row["actual_version"])
        )
    if outcome == "duplicate":
        return DuplicateCommandError(pending.command.command_id)
    raise RuntimeError(f"orderly_append_batch answered {outcome!r}")
