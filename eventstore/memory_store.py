"""An in-memory event store: the fake for fast tests, with the SQL store's semantics.

Events go through the codec on the way in and out, exactly as in the SQL store, so a
test on the fake sees what a test on a database sees (Decimals, datetimes, upcasting).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import uuid
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from domain.errors import ConcurrencyConflictError, DuplicateCommandError
from domain.events import Event
from domain.ports import AppendResult, CommandRecord, CommandStamp, RecordedEvent, UnreadableEvent
from eventstore.bus import NotificationBus, announce_appended
from eventstore.codec import decode, decode_or_unreadable, encode

log = logging.getLogger(__name__)


class InMemoryEventStore:
    """Keeps the log in a list; every append is atomic (no await between check and write)."""

    def __init__(self, bus: NotificationBus | None = None) -> None:
        self._bus = bus
        self._log: list[RecordedEvent] = []
        self._positions: list[int] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._commands: dict[str, CommandRecord] = {}

    async def read_stream(self, stream_id: str) -> Sequence[RecordedEvent]:
        """The stream's events, oldest first; empty for an unknown stream (raises, as decode does, on one it cannot read)."""
        stream = self._streams.get(stream_id, [])
        for recorded in stream:
            if isinstance(recorded.event, UnreadableEvent):
                decode(recorded.type_name, recorded.schema_version, copy.deepcopy(dict(recorded.data)))  # raises its error
        return [_fresh(event) for event in stream]

    async def replay_stream(self, stream_id: str) -> Sequence[RecordedEvent]:
        """The stream's events for a projection: one this code cannot decode comes back unreadable."""
        return [_fresh(event) for event in self._streams.get(stream_id, [])]

    async def read_log(self, after: int, limit: int) -> list[RecordedEvent]:
        """Events after `after` in position order (all are committed, so all are safe); undecodable ones unreadable."""
        start = bisect_right(self._positions, after)
        return [_fresh(event) for event in self._log[start : start + limit]]

    async def head_position(self) -> int:
        """The highest position, 0 when empty."""
        return self._positions[-1] if self._positions else 0

    async def find_command(self, command_id: str) -> CommandRecord | None:
        """The stored record of an accepted command, if any."""
        return self._commands.get(command_id)

    async def append(
        self,
        stream_id: str,
        stream_type: str,
        events: Sequence[Event],
        *,
        expected_version: int,
        command: CommandStamp,
    ) -> AppendResult:
        """Append atomically, or raise ConcurrencyConflictError / DuplicateCommandError."""
        if not events:
            raise ValueError("append needs at least one event")
        documents = [(event, encode(event)) for event in events]
        for event in events:
            if event.occurred_at.tzinfo is None:
                raise ValueError(f"{type(event).__name__}.occurred_at must be timezone-aware")
        # Same order of checks as the SQL stores: the version first, then the command id.
        actual = len(self._streams.get(stream_id, []))
        if actual != expected_version:
            raise ConcurrencyConflictError(stream_id, expected=expected_version, actual=actual)
        if command.command_id in self._commands:
            raise DuplicateCommandError(command.command_id)
        first_position = self._next_position()
        for index, (event, data) in enumerate(documents):
            self._store(
                stream_id=stream_id,
                stream_type=stream_type,
                version=expected_version + index + 1,
                position=first_position + index,
                type_name=event.type_name,
                schema_version=event.schema_version,
                data=data,
                occurred_at=event.occurred_at,
                command_id=command.command_id,
            )
        result = AppendResult(stream_id=stream_id, version=expected_version + len(documents), position=self._positions[-1])
        self._commands[command.command_id] = CommandRecord(
            command_id=command.command_id,
            command_type=command.command_type,
            fingerprint=command.fingerprint,
            result=result,
        )
        await self._announce(result, first_position)
        return result

    def insert_stored(
        self,
        *,
        stream_id: str,
        stream_type: str,
        type_name: str,
        schema_version: int,
        data: Mapping[str, Any],
        occurred_at: datetime,
    ) -> RecordedEvent:
        """Store an already-encoded event as-is (an older schema version, or one this code cannot read)."""
        return self._store(
            stream_id=stream_id,
            stream_type=stream_type,
            version=len(self._streams.get(stream_id, [])) + 1,
            position=self._next_position(),
            type_name=type_name,
            schema_version=schema_version,
            data=dict(data),
            occurred_at=occurred_at,
            command_id=None,
        )

    def _next_position(self) -> int:
        return (self._positions[-1] if self._positions else 0) + 1

    def _store(self, *, data: dict[str, Any], occurred_at: datetime, **fields: Any) -> RecordedEvent:
        recorded = RecordedEvent(
            event_id=str(uuid.uuid4()),
            data=data,
            occurred_at=occurred_at.astimezone(UTC),
            recorded_at=datetime.now(UTC),
            event=decode_or_unreadable(fields["type_name"], fields["schema_version"], copy.deepcopy(data)),
            **fields,
        )
        self._log.append(recorded)
        self._positions.append(recorded.position)
        self._streams.setdefault(recorded.stream_id, []).append(recorded)
        return recorded

    async def _announce(self, result: AppendResult, first_position: int) -> None:
        await announce_appended(
            self._bus,
            stream_id=result.stream_id,
            version=result.version,
            first_position=first_position,
            position=result.position,
        )


def _fresh(event: RecordedEvent) -> RecordedEvent:
    # Callers get their own copy of the stored data, as they would from a database.
    return dataclasses.replace(event, data=copy.deepcopy(event.data))
