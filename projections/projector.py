"""What a projector is to the runner (a batch planning function and its tables), and the log it reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from sqlalchemy import Table

from domain.ports import RecordedEvent
from projections.changes import BatchChanges
from projections.read_models import KeyedRows

# plan(reader, events) reads what the batch needs from the read model and folds the batch
# into rows to write; it writes nothing. The runner commits the rows with the checkpoint
# (ReadModelStore.commit_batch), whose compare-and-set fails if anyone committed since the read.
PlanBatch = Callable[[KeyedRows, Sequence[RecordedEvent]], Awaitable[BatchChanges]]


class Versioned(Protocol):
    """A row being folded: it knows the stream version it reflects."""

    version: int


Row = TypeVar("Row", bound=Versioned)

# The type an operator's skip gives a parked event (projections/parking.py): folding it
# moves the row's version past it without applying it.
PASSED_TYPE = "orderly.passed"


def passed(recorded: RecordedEvent) -> RecordedEvent:
    """The event marked to be passed over, not applied (a skip of a parked event)."""
    return replace(recorded, type_name=PASSED_TYPE)


def fold_in_order(
    rows: MutableMapping[str, Row], events: Iterable[RecordedEvent], fold: Callable[[Row | None, RecordedEvent], Row]
) -> dict[str, Row]:
    """Fold each event into its stream's row; returns the rows that changed, by stream id.

    Events the row already reflects are skipped (a replayed batch changes nothing); an
    event that does not follow the row's version raises ProjectionGapError, never skips.
    A passed event (an operator's skip of a parked event) only moves the row's version.
    """
    changed: dict[str, Row] = {}
    for recorded in events:
        row = rows.get(recorded.stream_id)
        held = 0 if row is None else row.version
        if recorded.version <= held:
            continue
        if recorded.version != held + 1:
            raise ProjectionGapError(recorded.stream_id, held, recorded.version)
        if recorded.type_name == PASSED_TYPE:
            if row is not None:  # with no row there is nothing to move; the next event shows the gap
                row.version = recorded.version
                rows[recorded.stream_id] = changed[recorded.stream_id] = row
            continue
        rows[recorded.stream_id] = changed[recorded.stream_id] = fold(row, recorded)
    return changed


class ProjectionGapError(Exception):
    """An event does not follow the version the read model holds for its stream."""

    def __init__(self, stream_id: str, held: int, got: int) -> None:
        super().__init__(f"stream {stream_id}: read model is at version {held}, next event is version {got}")
        self.stream_id = stream_id
        self.held = held
        self.got = got


@dataclass(frozen=True, kw_only=True)
class Projector:
    """A read model's batch planning function, its tables (logical: each generation has its own
    physical copy) and its version: a deploy whose version differs from the database's rebuilds
    the read model blue-green (projections/upgrade.py)."""

    plan: PlanBatch
    tables: tuple[Table, ...]
    version: int = 1


class EventLog(Protocol):
    """What projections read from the event store."""

    async def read_log(self, after: int, limit: int) -> Sequence[RecordedEvent]:
        """Events with position > after, in position order, only those safe to tail."""
        ...

    async def head_position(self) -> int:
        """The highest committed position (0 when empty)."""
        ...
