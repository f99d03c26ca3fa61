"""The event store on SQLAlchemy Core: PostgreSQL (asyncpg) or SQLite (aiosqlite).

Global order that a tailing reader can trust
--------------------------------------------
Positions come from an identity (PostgreSQL) or AUTOINCREMENT (SQLite), but transactions
commit in any order: a reader that takes `position > checkpoint` could see position 11
before 10 commits, move its checkpoint past 10 and never read it.

SQLite has one writer at a time (appends run in BEGIN IMMEDIATE transactions), so
positions commit in order and read_log needs no filter.

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

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import orjson
from sqlalchemy import Row, bindparam, exc, func, insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from domain.errors import ConcurrencyConflictError, DuplicateCommandError, ServiceUnavailableError
from domain.events import Event
from domain.ports import AppendResult, CommandRecord, CommandStamp, RecordedEvent
from eventstore.bus import NotificationBus, announce_appended
from eventstore.codec import decode, encode
from eventstore.database import Database, is_unavailable
from eventstore.tables import commands, events

log = logging.getLogger(__name__)

BeforeCommit = Callable[[], Awaitable[None]]

_EVENT_COLUMNS = (
    events.c.position,
    events.c.event_id,
    events.c.stream_id,
    events.c.stream_type,
    events.c.version,
    events.c.type_name,
    events.c.schema_version,
    events.c.data,
    events.c.occurred_at,
    events.c.recorded_at,
    events.c.command_id,
)
_READ_STREAM = select(*_EVENT_COLUMNS).where(events.c.stream_id == bindparam("stream_id")).order_by(events.c.version)
_READ_LOG = (
    select(*_EVENT_COLUMNS)
    .where(events.c.position > bindparam("after"))
    .order_by(events.c.position)
    .limit(bindparam("limit"))
)
# PostgreSQL only: tx_id exists there alone. Raw SQL for the raw pool; the document comes
# as text for orjson. `safe` is the module docstring's two rules; the running bool_and
# cuts the answer at the first row that passes neither, so it is always a prefix.
_SAFE_TO_TAIL = (
    '"position" = coalesce(lag("position") OVER (ORDER BY "position"), $1) + 1'
    " OR tx_id < pg_snapshot_xmin(pg_current_snapshot())"
)
_READ_LOG_RAW = f"""
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
_HEAD = select(func.coalesce(func.max(events.c.position), 0))
_FIND_COMMAND = select(commands).where(commands.c.command_id == bindparam("command_id"))
_STREAM_VERSION = select(func.coalesce(func.max(events.c.version), 0)).where(
    events.c.stream_id == bindparam("stream_id")
)
_INSERT_EVENTS = insert(events).returning(events.c.position, sort_by_parameter_order=True)
_INSERT_COMMAND = insert(commands)
# One statement, so an append is one round trip: the function writes the events, then
# the commands row is inserted after it returned (and released its lock).
_APPEND_POSTGRES = text(
    """
    WITH appended AS (
        SELECT a."position", a.version
        FROM orderly_append(:stream_id, :stream_type, :expected_version, :command_id, :events) AS a
    ), summary AS (
        SELECT min("position") AS first_position, max("position") AS last_position, max(version) AS version
        FROM appended
    ), recorded AS (
        INSERT INTO commands (command_id, command_type, fingerprint, stream_id, version, "position")
        SELECT :command_id, :command_type, :fingerprint, :stream_id, summary.version, summary.last_position
        FROM summary
        RETURNING version
    )
    SELECT summary.first_position, summary.last_position, recorded.version FROM summary, recorded
    """
).bindparams(bindparam("events", type_=JSONB))

# The same statement for the raw asyncpg pool (positional parameters).
_APPEND_POSTGRES_RAW = (
    str(_APPEND_POSTGRES.compile(dialect=postgresql.dialect()))
    .replace("%(stream_id)s", "$1")
    .replace("%(stream_type)s", "$2")
    .replace("%(expected_version)s", "$3")
    .replace("%(command_id)s", "$4")
    .replace("%(command_type)s", "$5")
    .replace("%(fingerprint)s", "$6")
    .replace("%(events)s", "$7")
)

_STREAM_CONFLICT_SQLSTATE = "OR409"
_UNIQUE_VIOLATION_SQLSTATE = "23505"


class SqlEventStore:
    """Appends and reads events in a SQL database (see the module docstring for ordering)."""

    def __init__(
        self,
        database: Database,
        bus: NotificationBus | None = None,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> None:
        self._database = database
        self._bus = bus
        # Test hook: awaited inside the append transaction after the rows are written,
        # to widen race windows. Production code leaves it unset.
        self._before_commit = before_commit
        if database.is_postgres:
            # Single-statement work needs no BEGIN/COMMIT round trips.
            self._reader = database.engine.execution_options(isolation_level="AUTOCOMMIT")
            self._appender = database.write_engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            self._reader = database.engine
            self._appender = database.write_engine

    @property
    def database(self) -> Database:
        """The database this store writes to."""
        return self._database

    async def read_stream(self, stream_id: str) -> Sequence[RecordedEvent]:
        """The stream's events, oldest first; empty for an unknown stream."""
        rows = await self._fetch(_READ_STREAM, {"stream_id": stream_id})
        return [_recorded(row._mapping, row.data) for row in rows]

    async def read_log(self, after: int, limit: int) -> list[RecordedEvent]:
        """Events after `after` in position order, only those no later commit can precede."""
        if self._database.is_postgres:
            # The projectors' hot path: the raw pool, as appends (see Database.raw_pool).
            try:
                pool = await self._database.raw_pool()
                records = await pool.fetch(_READ_LOG_RAW, after, limit)
            except Exception as error:
                if is_unavailable(error):
                    raise ServiceUnavailableError("the event store cannot be reached; retry later") from error
                raise
            return [_recorded(record, orjson.loads(record["data"])) for record in records]
        rows = await self._fetch(_READ_LOG, {"after": after, "limit": limit})
        return [_recorded(row._mapping, row.data) for row in rows]

    async def head_position(self) -> int:
        """The highest committed position, 0 when empty (read_log may briefly lag behind it)."""
        rows = await self._fetch(_HEAD, {})
        return int(rows[0][0])

    async def find_command(self, command_id: str) -> CommandRecord | None:
        """The stored record of an accepted command, if any."""
        rows = await self._fetch(_FIND_COMMAND, {"command_id": command_id})
        if not rows:
            return None
        row = rows[0]
        return CommandRecord(
            command_id=row.command_id,
            command_type=row.command_type,
            fingerprint=row.fingerprint,
            result=AppendResult(stream_id=row.stream_id, version=row.version, position=row.position),
        )

    async def append(
        self,
        stream_id: str,
        stream_type: str,
        events: Sequence[Event],
        *,
        expected_version: int,
        command: CommandStamp,
    ) -> AppendResult:
        """Append in one transaction, or raise ConcurrencyConflictError / DuplicateCommandError."""
        if not events:
            raise ValueError("append needs at least one event")
        documents = [_document(event) for event in events]
        try:
            if self._database.is_postgres:
                first, last, version = await self._append_postgres(
                    stream_id, stream_type, documents, expected_version, command
                )
            else:
                first, last, version = await self._append_sqlite(
                    stream_id, stream_type, documents, expected_version, command
                )
        except Exception as error:
            translated = _translate(error, stream_id, expected_version, command.command_id)
            if translated is None:
                raise
            raise translated from error
        result = AppendResult(stream_id=stream_id, version=version, position=last)
        await self._announce(result, first)
        return result

    async def _append_postgres(
        self,
        stream_id: str,
        stream_type: str,
        documents: list[dict[str, Any]],
        expected_version: int,
        command: CommandStamp,
    ) -> tuple[int, int, int]:
        if self._before_commit is None:
            pool = await self._database.raw_pool()
            async with pool.acquire() as connection:
                row = await connection.fetchrow(
                    _APPEND_POSTGRES_RAW,
                    stream_id,
                    stream_type,
                    expected_version,
                    command.command_id,
                    command.command_type,
                    command.fingerprint,
                    orjson.dumps(documents).decode(),
                )
            assert row is not None
            return int(row["first_position"]), int(row["last_position"]), int(row["version"])
        params = {
            "stream_id": stream_id,
            "stream_type": stream_type,
            "expected_version": expected_version,
            "command_id": command.command_id,
            "command_type": command.command_type,
            "fingerprint": command.fingerprint,
            "events": documents,
        }
        async with self._database.write_engine.begin() as connection:
            row = (await connection.execute(_APPEND_POSTGRES, params)).one()
            await self._before_commit()
        return int(row.first_position), int(row.last_position), int(row.version)

    async def _append_sqlite(
        self,
        stream_id: str,
        stream_type: str,
        documents: list[dict[str, Any]],
        expected_version: int,
        command: CommandStamp,
    ) -> tuple[int, int, int]:
        # BEGIN IMMEDIATE: this transaction is the only writer until it ends, so the
        # version read here cannot change before the insert.
        async with self._appender.begin() as connection:
            actual = (await connection.execute(_STREAM_VERSION, {"stream_id": stream_id})).scalar_one()
            if actual != expected_version:
                raise ConcurrencyConflictError(stream_id, expected=expected_version, actual=actual)
            rows = [
                {
                    **document,
                    "stream_id": stream_id,
                    "stream_type": stream_type,
                    "version": expected_version + index,
                    "command_id": command.command_id,
                }
                for index, document in enumerate(documents, start=1)
            ]
            positions = (await connection.execute(_INSERT_EVENTS, rows)).scalars().all()
            version = expected_version + len(rows)
            await connection.execute(
                _INSERT_COMMAND,
                {
                    "command_id": command.command_id,
                    "command_type": command.command_type,
                    "fingerprint": command.fingerprint,
                    "stream_id": stream_id,
                    "version": version,
                    "position": positions[-1],
                },
            )
            if self._before_commit is not None:
                await self._before_commit()
        return int(positions[0]), int(positions[-1]), version

    async def _announce(self, result: AppendResult, first_position: int) -> None:
        await announce_appended(
            self._bus,
            stream_id=result.stream_id,
            version=result.version,
            first_position=first_position,
            position=result.position,
        )

    async def _fetch(self, statement: Any, params: dict[str, Any]) -> Sequence[Row[Any]]:
        try:
            async with self._reader.connect() as connection:
                return (await connection.execute(statement, params)).all()
        except Exception as error:
            if is_unavailable(error):
                raise ServiceUnavailableError("the event store cannot be reached; retry later") from error
            raise


def _document(event: Event) -> dict[str, Any]:
    if event.occurred_at.tzinfo is None:
        raise ValueError(f"{type(event).__name__}.occurred_at must be timezone-aware")
    return {
        "event_id": str(uuid.uuid4()),
        "type_name": event.type_name,
        "schema_version": event.schema_version,
        "data": encode(event),
        "occurred_at": event.occurred_at,
    }


def _recorded(row: Mapping[str, Any] | asyncpg.Record, data: dict[str, Any]) -> RecordedEvent:
    type_name, schema_version = row["type_name"], row["schema_version"]
    return RecordedEvent(
        event_id=row["event_id"],
        stream_id=row["stream_id"],
        stream_type=row["stream_type"],
        version=row["version"],
        position=row["position"],
        type_name=type_name,
        schema_version=schema_version,
        data=data,
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
        command_id=row["command_id"],
        event=decode(type_name, schema_version, data),
    )


def _translate(error: Exception, stream_id: str, expected: int, command_id: str) -> Exception | None:
    """The domain error a driver error stands for, if any."""
    driver_error: BaseException | None = error
    if isinstance(error, exc.DBAPIError) and error.orig is not None:
        driver_error = error.orig.__cause__
    sqlstate = getattr(driver_error, "sqlstate", None) or getattr(getattr(error, "orig", None), "sqlstate", None)
    if sqlstate is not None or isinstance(error, exc.IntegrityError):
        if sqlstate == _STREAM_CONFLICT_SQLSTATE:
            detail = getattr(driver_error, "detail", None)
            actual = int(detail) if isinstance(detail, str) and detail.isdigit() else None
            return ConcurrencyConflictError(stream_id, expected=expected, actual=actual)
        if sqlstate == _UNIQUE_VIOLATION_SQLSTATE or isinstance(error, exc.IntegrityError):
            # asyncpg names the constraint; SQLite only says "UNIQUE constraint failed: t.c".
            constraint = getattr(driver_error, "constraint_name", None) or str(getattr(error, "orig", error))
            if "pk_commands" in constraint or "commands.command_id" in constraint:
                return DuplicateCommandError(command_id)
            if "uq_events_stream_version" in constraint or "events.stream_id, events.version" in constraint:
                return ConcurrencyConflictError(stream_id, expected=expected, actual=None)
    if is_unavailable(error):
        return ServiceUnavailableError("the event store cannot be reached; retry later")
    return None
