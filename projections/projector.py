"""What a projector is to the runner (a batch apply function and its tables), and the log it reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ports import RecordedEvent

# apply(conn, events) folds a batch into the read model inside the caller's transaction and
# returns {stream_id: stream version the read model reflects after the batch}.
ApplyBatch = Callable[[AsyncConnection, Sequence[RecordedEvent]], Awaitable[dict[str, int]]]


class ProjectionGapError(Exception):
    """An event does not follow the version the read model holds for its stream."""

    def __init__(self, stream_id: str, held: int, got: int) -> None:
        super().__init__(f"stream {stream_id}: read model is at version {held}, next event is version {got}")
        self.stream_id = stream_id
        self.held = held
        self.got = got


@dataclass(frozen=True, kw_only=True)
class Projector:
    """A read model's batch apply function and the tables a rebuild clears."""

    apply: ApplyBatch
    tables: tuple[Table, ...]


class EventLog(Protocol):
    """What projections read from the event store."""

    async def read_log(self, after: int, limit: int) -> Sequence[RecordedEvent]:
        """Events with position > after, in position order, only those safe to tail."""
        ...

    async def head_position(self) -> int:
        """The highest committed position (0 when empty)."""
        ...
