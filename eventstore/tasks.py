"""A background task's lifecycle: start it once, stop it for sure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# On Python 3.11 asyncio.wait_for can swallow a cancellation that arrives just as the
# awaited future completes (CPython gh-86296); a loop awaiting Inbox.get(timeout) then
# carries on as if never cancelled. So cancel again until the task has really ended.
RECANCEL_INTERVAL = 0.1


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel the task, repeating until it ends; log an exception it ended with."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_INTERVAL)
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s ended with an error", task.get_name(), exc_info=task.exception())


class BackgroundTask:
    """One named task running a coroutine function: start is a no-op while it runs, stop waits for its end."""

    def __init__(self, run: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        self._run = run
        self._name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the task unless it is running (a task that ended is started again)."""
        if not self.running:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended (twice is harmless)."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
