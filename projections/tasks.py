"""Stopping a background task for sure."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

# On Python 3.11 asyncio.wait_for can swallow a cancellation that arrives just as the
# awaited future completes (CPython gh-86296); a loop awaiting Inbox.get(timeout) then
# carries on as if never cancelled. So cancel again until the task has really ended.
RECANCEL_INTERVAL = 0.1


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel the task, repeating until it ends; log an exception it ended with."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_INTERVAL)
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s ended with an error", task.get_name(), exc_info=task.exception())
