"""What the PostgreSQL and SQLite event stores share: the reads, the row mapping, the errors.

Each backend has its own store with one append and one read_log (postgres_store.py, where
the ordering of global positions is explained, and sqlite_store.py); the composition root
picks one. This base holds what is spelt the same on both.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row, bindparam, exc, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import ConcurrencyConflictError, DuplicateCommandError, ServiceUnavailableError
from domain.events import Event
from domain.ports import AppendResult, CommandRecord, CommandStamp, RecordedEvent, UnreadableEvent
from eventstore import log_context, tracing
from eventstore.bus import NotificationBus, announce_appended
from eventstore.codec import decode, decode_json_or_unreadable, decode_or_unreadable, encode
from eventstore.database import Database, is_unavailable
from eventstore.json_document import JsonDocument
from eventstore.metrics import observe_append_conflict
from eventstore.recorded_rows import recorded_event
from eventstore.tables import commands, events

EVENT_COLUMNS = (
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
_READ_STREAM = select(*EVENT_COLUMNS).where(events.c.stream_id == bindparam("stream_id")).order_by(events.c.version)
_HEAD = select(func.coalesce(func.max(events.c.position), 0))
_FIND_COMMAND = select(commands).where(commands.c.command_id == bindparam("command_id"))

# How a read turns stored data into an event: `decode` raises on an event this code cannot
# read (the write path, read_stream); `decode_or_unreadable` returns it marked unreadable
# (the projections' reads, read_log and replay_stream), so a projection can park it.
Decoder = Callable[[str, int, dict[str, Any]], Event | UnreadableEvent]

# Test hook a store awaits inside its append transaction, before COMMIT.
BeforeCommit = Callable[[], Awaitable[None]]

_STREAM_CONFLICT_SQLSTATE = "OR409"
_UNIQUE_VIOLATION_SQLSTATE = "23505"


def unavailable() -> ServiceUnavailableError:
    """The error for a database that cannot be reached."""
    return ServiceUnavailableError("the event store cannot be reached; retry later")


class SqlEventStore(abc.ABC):
    """Appends and reads events in a SQL database; a subclass per backend writes and tails."""

    def __init__(self, database: Database, bus: NotificationBus | None, reader: AsyncEngine) -> None:
        self._database = database
        self._bus = bus
        self._reader = reader

    @property
    def database(self) -> Database:
        """The database this store writes to."""
        return self._database

    async def read_stream(self, stream_id: str) -> Sequence[RecordedEvent]:
        """The stream's events, oldest first; empty for an unknown stream."""
        rows = await self._fetch(_READ_STREAM, {"stream_id": stream_id})
        return [recorded(row._mapping, row.data, decode) for row in rows]

    async def replay_stream(self, stream_id: str) -> Sequence[RecordedEvent]:
        """The stream's events for a projection: one this code cannot decode comes back unreadable."""
        rows = await self._fetch(_READ_STREAM, {"stream_id": stream_id})
        return [recorded(row._mapping, row.data, decode_or_unreadable) for row in rows]

    @abc.abstractmethod
    async def read_log(self, after: int, limit: int) -> list[RecordedEvent]:
        """Events after `after` in position order, only those no later commit can precede.

        An event this code cannot decode comes back unreadable (decode_or_unreadable).
        """

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
        with tracing.span("eventstore.append", {"orderly.stream_id": stream_id, "orderly.command_id": command.command_id}):
            try:
                first, last, version = await self._write(stream_id, stream_type, documents, expected_version, command)
            except Exception as error:
                translated = _translate(error, stream_id, expected_version, command.command_id)
                if isinstance(translated or error, ConcurrencyConflictError):
                    observe_append_conflict()
                if translated is None:
                    raise
                raise translated from error
            log_context.annotate(position=last)
            result = AppendResult(stream_id=stream_id, version=version, position=last)
            await announce_appended(self._bus, stream_id=stream_id, version=version, first_position=first, position=last)
        return result

    @abc.abstractmethod
    async def _write(
        self,
        stream_id: str,
        stream_type: str,
        documents: list[dict[str, Any]],
        expected_version: int,
        command: CommandStamp,
    ) -> tuple[int, int, int]:
        """Insert the events and the command in one transaction: (first, last position, version)."""

    async def _fetch(self, statement: Any, params: dict[str, Any]) -> Sequence[Row[Any]]:
        try:
            async with self._reader.connect() as connection:
                return (await connection.execute(statement, params)).all()
        except Exception as error:
            if is_unavailable(error):
                raise unavailable() from error
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


def recorded(row: Mapping[Any, Any], data: dict[str, Any], decoder: Decoder) -> RecordedEvent:
    """The recorded event for a row of EVENT_COLUMNS (a mapping or an asyncpg record), decoded by `decoder`."""
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
        event=decoder(type_name, schema_version, data),
    )


def recorded_from_json(row: Mapping[Any, Any]) -> RecordedEvent:
    """recorded() for a log row whose data came as JSON text (the projections' reads): the event is
    decoded straight from the text, one this code cannot decode comes back unreadable, and the data
    is parsed only if someone reads it (eventstore/json_document.py). Made without the dataclass
    constructor (eventstore/recorded_rows.py): tens of thousands a batch."""
    text, type_name, schema_version = row["data"], row["type_name"], row["schema_version"]
    return recorded_event(
        row["event_id"],
        row["stream_id"],
        row["stream_type"],
        row["version"],
        row["position"],
        type_name,
        schema_version,
        JsonDocument(text),
        row["occurred_at"],
        row["recorded_at"],
        row["command_id"],
        decode_json_or_unreadable(type_name, schema_version, text),
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
        return unavailable()
    return None
