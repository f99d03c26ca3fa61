"""Where each projection stands against the head of the event log, and how far its rebuild has got."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from projections.checkpoints import Checkpoint, ProjectionState, read_checkpoints, shadow_name
from projections.parked_streams import count_parked
from projections.projector import EventLog
from projections.read_models import ReadModelStore
from projections.registry import PROJECTIONS


@dataclass(frozen=True, kw_only=True)
class RebuildProgress:
    """The contract's ProjectionRebuild: a blue-green rebuild under way (read from its shadow checkpoint)."""

    generation: int
    version: int
    position: int
    head_position: int
    events_per_second: float | None  # None until the run has applied something
    eta_seconds: float | None
    started_at: datetime | None

    @classmethod
    def of(cls, shadow: Checkpoint, head: int, now: datetime | None = None) -> RebuildProgress:
        """The progress a shadow checkpoint shows against the head, its rate since this run started."""
        rate = eta = None
        if shadow.started_at is not None and shadow.start_position is not None:
            elapsed = ((now or datetime.now(UTC)) - shadow.started_at).total_seconds()
            done = shadow.position - shadow.start_position
            if elapsed > 0 and done > 0:
                rate = done / elapsed
                eta = max(0, head - shadow.position) / rate
        return cls(
            generation=shadow.generation,
            version=shadow.version,
            position=shadow.position,
            head_position=max(head, shadow.position),
            events_per_second=rate,
            eta_seconds=eta,
            started_at=shadow.started_at,
        )


@dataclass(frozen=True, kw_only=True)
class ProjectionStatusView:
    """The contract's ProjectionStatus."""

    name: str
    position: int
    head_position: int
    lag: int
    state: ProjectionState
    last_error: str | None
    parked_streams: int = 0  # streams held back after a poison event; the projection runs on
    rebuild: RebuildProgress | None = None


async def projection_statuses(
    read_models: ReadModelStore, store: EventLog, names: Iterable[str] | None = None
) -> list[ProjectionStatusView]:
    """The status of every registered projection (or of the given names), in registry order."""
    wanted = list(PROJECTIONS if names is None else names)
    async with read_models.reader.connect() as conn:
        checkpoints = await read_checkpoints(conn, [*wanted, *map(shadow_name, wanted)])
        parked = await count_parked(conn)
    # The head is read after the checkpoints, so it is never behind them.
    head = await store.head_position()
    now = datetime.now(UTC)
    statuses = []
    for name in wanted:
        checkpoint = checkpoints.get(name)
        shadow = checkpoints.get(shadow_name(name))
        position = 0 if checkpoint is None else checkpoint.position
        statuses.append(
            ProjectionStatusView(
                name=name,
                position=position,
                head_position=head,
                lag=max(0, head - position),
                state=ProjectionState.STOPPED if checkpoint is None else checkpoint.state,
                last_error=None if checkpoint is None else checkpoint.last_error,
                parked_streams=parked.get(name, 0),
                rebuild=None if shadow is None else RebuildProgress.of(shadow, head, now),
            )
        )
    return statuses


async def get_status(read_models: ReadModelStore, store: EventLog, name: str) -> ProjectionStatusView | None:
    """One projection's status; None for a name that is not registered."""
    if name not in PROJECTIONS:
        return None
    (status,) = await projection_statuses(read_models, store, [name])
    return status
