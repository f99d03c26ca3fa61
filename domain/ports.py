"""What the domain needs from the outside world, as Protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.events import Event


@dataclass(frozen=True, kw_only=True)
class UnreadableEvent:
    """A stored event this code cannot decode: an unknown type, or data that does not fit its class."""

    type_name: str
    schema_version: int
    reason: str


class UnreadableEventError(Exception):
    """An event was needed that this code cannot decode (the message says why, without the data)."""


@dataclass(frozen=True, kw_only=True)
class RecordedEvent:
    """One event as the store holds it: its place in its stream and in the global log."""

    event_id: str
    stream_id: str
    stream_type: str
    version: int
    position: int
    type_name: str
    schema_version: int
    data: Mapping[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    command_id: str | None
    # Unreadable only where the store reads leniently (the projections' read_log and
    # replay_stream): a projection must be able to park what it cannot read, not stall on
    # it. read_stream, the write path, raises instead, so a command never folds a hole.
    event: Event | UnreadableEvent

    def decoded(self) -> Event:
        """The event, or UnreadableEventError when this code could not decode it."""
        if isinstance(self.event, UnreadableEvent):
            raise UnreadableEventError(self.event.reason)
        return self.event


@dataclass(frozen=True, kw_only=True)
class AppendResult:
    """What an append wrote: the stream's version after it and the last event's position."""

    stream_id: str
    version: int
    position: int


@dataclass(frozen=True, kw_only=True)
class CommandStamp:
    """The command an append belongs to, stored with it for idempotency."""

    command_id: str
    command_type: str
    fingerprint: str


@dataclass(frozen=True, kw_only=True)
class CommandRecord:
    """A command the store has already accepted, and what it wrote."""

    command_id: str
    command_type: str
    fingerprint: str
    result: AppendResult


class EventStore(Protocol):
    """The write side's storage."""

    async def read_stream(self, stream_id: str) -> Sequence[RecordedEvent]:
        """The stream's events, oldest first; empty for an unknown stream."""
        ...

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
        ...

    async def find_command(self, command_id: str) -> CommandRecord | None:
        """The stored record of an accepted command, if any."""
        ...


class Clock(Protocol):
    """Where command timestamps come from."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...
