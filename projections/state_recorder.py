"""What a projection runner is doing, in memory and in its checkpoint row, and its one failure path."""

from __future__ import annotations

import asyncio
import logging

from projections.checkpoints import Checkpoint, ProjectionState, set_state
from projections.read_models import ReadModelStore

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0


class StateRecorder:
    """A runner's state (RUNNING, CATCHING_UP, REBUILDING, FAILED, STOPPED), its last error and its retry backoff.

    A batch commit writes its state with the checkpoint; this records the rest: RUNNING once
    caught up, FAILED on an error, STOPPED on stop. It writes the row only while `leading`:
    a runner that lost its lease must not overwrite the state of the process that leads now.
    """

    def __init__(self, name: str, read_models: ReadModelStore, *, retry_base: float, retry_max: float) -> None:
        self._name = name
        self._read_models = read_models
        self._retry_base = retry_base
        self._retry_max = retry_max
        self.leading = False
        self._state = ProjectionState.STOPPED
        self._persisted: ProjectionState | None = None  # what the checkpoint row says, as far as we know
        self._rebuilding = False
        self._last_error: str | None = None
        self._failures = 0

    @property
    def state(self) -> ProjectionState:
        """What the runner is doing now."""
        return self._state

    @property
    def last_error(self) -> str | None:
        """The error of the last failed attempt, until a batch succeeds."""
        return self._last_error

    def read(self, checkpoint: Checkpoint) -> None:
        """Take note of the checkpoint row as read (a rebuild marks it REBUILDING)."""
        self._persisted = checkpoint.state
        if checkpoint.state is ProjectionState.REBUILDING:
            self._rebuilding = True

    def working(self) -> None:
        """A batch is under way (a failed runner stays FAILED until one commits)."""
        if self._state is not ProjectionState.FAILED:
            self._state = ProjectionState.REBUILDING if self._rebuilding else ProjectionState.CATCHING_UP

    def batch_state(self, *, full: bool) -> ProjectionState:
        """The state a batch commits with its checkpoint: a short batch reached the end of the log."""
        if not full:
            return ProjectionState.RUNNING
        return ProjectionState.REBUILDING if self._rebuilding else ProjectionState.CATCHING_UP

    def committed(self, state: ProjectionState, position: int) -> None:
        """A batch committed with this state."""
        if self._state is ProjectionState.FAILED:
            log.info("projection %s recovered at position %d", self._name, position)
        self._state, self._persisted, self._last_error = state, state, None

    async def caught_up(self) -> None:
        """The runner reached the end of the log: RUNNING, errors forgotten."""
        self._rebuilding = False
        if self._persisted is not ProjectionState.RUNNING:
            await self._persist(ProjectionState.RUNNING, None)
        self._state, self._last_error, self._failures = ProjectionState.RUNNING, None, 0

    async def failed(self, error: Exception, position: int) -> float:
        """Record a failed attempt (FAILED, logged, written while leading); returns the delay before the next."""
        self._failures += 1
        self._state, self._last_error = ProjectionState.FAILED, _describe(error)
        delay = float(min(self._retry_max, self._retry_base * 2 ** max(0, self._failures - 1)))
        log.error(
            "projection %s failed after position %d (attempt %d); retrying in %.2fs",
            self._name,
            position,
            self._failures,
            delay,
            exc_info=error,
            extra={"projection": self._name, "position": position},
        )
        if self.leading:
            try:
                await self._persist(ProjectionState.FAILED, self._last_error)
            except Exception:
                log.warning("projection %s: could not record FAILED", self._name, exc_info=True)
        return delay

    async def stopped(self) -> None:
        """The runner stopped: STOPPED, written (within STOP_TIMEOUT) if it led."""
        if self.leading:
            self.leading = False
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self._persist(ProjectionState.STOPPED, None)
            except Exception:
                log.warning("projection %s: could not record STOPPED", self._name, exc_info=True)
        self._state = ProjectionState.STOPPED

    async def _persist(self, state: ProjectionState, last_error: str | None) -> None:
        async with self._read_models.database.write_engine.begin() as conn:
            await set_state(conn, self._name, state, last_error)
        self._persisted = state


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]
