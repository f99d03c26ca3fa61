"""Where each projection stands against the head of the event log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from projections.checkpoints import ProjectionState, read_checkpoints
from projections.parked_streams import count_parked
from projections.projector import EventLog
from projections.read_models import ReadModelStore
from projections.registry import PROJECTIONS


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


async def projection_statuses(
    read_models: ReadModelStore, store: EventLog, names: Iterable[str] | None = None
) -> list[ProjectionStatusView]:
    """The status of every registered projection (or of the given names), in registry order."""
    wanted = list(PROJECTIONS if names is None else names)
    async with read_models.reader.connect() as conn:
        checkpoints = await read_checkpoints(conn, wanted)
        parked = await count_parked(conn)
    # The head is read after the checkpoints, so it is never behind them.
    head = await store.head_position()
    statuses = []
    for name in wanted:
        checkpoint = checkpoints.get(name)
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
            )
        )
    return statuses


async def get_status(read_models: ReadModelStore, store: EventLog, name: str) -> ProjectionStatusView | None:
    """One projection's status; None for a name that is not registered."""
    if name not in PROJECTIONS:
        return None
    (status,) = await projection_statuses(read_models, store, [name])
    return status
