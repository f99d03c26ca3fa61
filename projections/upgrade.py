"""Versioned projections: a projector process rebuilds, blue-green, a read model whose code version
differs from the live one's, while the live generation keeps serving.

Every projector process starts one of these per projection; the rebuild's lease (PostgreSQL)
lets one build while the others stand by, and a standby that gets the lease afterwards finds
the versions equal and ends. Until the switch, the live runner applies the new code to the
old generation (an expand migration made its tables fit, see the README); the new generation
is filled from position 0 with the new code and replaces it when caught up.
"""

from __future__ import annotations

import asyncio
import logging

from eventstore.tasks import BackgroundTask
from projections.blue_green import BlueGreenRebuild

log = logging.getLogger(__name__)


class VersionUpgrade:
    """A background task: rebuild the projection if its version changed, retrying with backoff on errors."""

    def __init__(self, rebuild: BlueGreenRebuild, *, retry_base: float = 0.5, retry_max: float = 30.0) -> None:
        self._rebuild = rebuild
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._task = BackgroundTask(self._run, f"upgrade:{rebuild.name}")
        self.finished = asyncio.Event()  # set once the live version equals the projector's

    @property
    def running(self) -> bool:
        """Whether the task is alive."""
        return self._task.running

    async def start(self) -> None:
        """Start checking (no-op when running)."""
        self._task.start()

    async def stop(self) -> None:
        """Stop (a rebuild under way resumes in the next process that starts)."""
        await self._task.stop()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                outcome = await self._rebuild.run(only_if_outdated=True)
            except Exception:
                failures += 1
                delay = min(self._retry_max, self._retry_base * 2 ** (failures - 1))
                log.exception("projection %s: version upgrade failed; retrying in %.1fs", self._rebuild.name, delay)
                await asyncio.sleep(delay)
                continue
            if outcome.rebuilt:
                log.warning(
                    "projection %s upgraded to version %d (generation %d)",
                    outcome.name,
                    outcome.version,
                    outcome.generation,
                )
            self.finished.set()
            return
